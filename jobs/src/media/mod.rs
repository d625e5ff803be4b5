//! The `media` job family: image uploads processed into variants.
//!
//! [`upload`] stores an original and enqueues [`ImageProcessV1`] with its
//! media row; [`process`] decodes it off the async runtime (bounded by the CPU
//! permits), writes every variant to object storage and marks the row ready.

pub mod config;
pub mod layout;
pub mod pipeline;
pub mod process;
pub mod repo;
pub mod sniff;
pub mod upload;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{job::Job, queue::QueueName};

pub use layout::{original_key, variant_key};

/// Payload of `image.process`: the media row whose original to process.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageProcessV1 {
    /// The media id (its original is at [`original_key`]).
    pub media_id: Uuid,
}

impl Job for ImageProcessV1 {
    const KIND: &'static str = "image.process";
    const TYPE: &'static str = "image.process.v1";
    fn queue(&self) -> QueueName {
        QueueName::Media
    }
}

/// A variant as recorded on the media row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredVariant {
    /// `{preset}.{ext}`, e.g. `thumb.webp`: the name in download URLs.
    pub name: String,
    /// The preset that made it.
    pub preset: String,
    /// `jpeg` or `webp`.
    pub format: String,
    /// MIME type served.
    pub content_type: String,
    /// Pixel width.
    pub width: u32,
    /// Pixel height.
    pub height: u32,
    /// Size in bytes.
    pub bytes: u64,
    /// Strong ETag (hex SHA-256 of the bytes).
    pub etag: String,
}

/// The download URL of a variant under `public_url`.
pub fn variant_url(public_url: &str, media_id: Uuid, name: &str) -> String {
    format!("{public_url}/v1/media/{media_id}/variants/{name}")
}
