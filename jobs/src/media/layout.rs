//! Where a media item's objects live in object storage.
//!
//! An original is stored flat under one of 256 fixed shard prefixes,
//! `media/originals/{shard}/{media_id}`, so accepting an upload creates no
//! folder on a local store: [`prepare`] creates the shards once. The shard is
//! the id's last byte in hex; a UUIDv7 ends in random bits, so uploads spread
//! evenly. Variants, written by the worker, get a folder per media item under
//! the same shard: `media/variants/{shard}/{media_id}/{name}`.
//!
//! Before this layout an item kept everything under `media/{media_id}/`.
//! [`prepare`] moves such objects to their new keys once per store (a marker
//! object records that it did), and until then, or while a process of the
//! older version still writes during a rolling upgrade, reads fall back to
//! the old keys ([`legacy_original_key`], [`legacy_variant_key`]) and deletes
//! remove both.

use bytes::Bytes;
use futures::stream::BoxStream;
use uuid::Uuid;

use crate::storage::{Storage, StorageError};

/// The marker object: its presence says every object of this store that the
/// old layout held was moved.
const MARKER: &str = "media/layout-v2";

/// The fixed shard prefix of `media_id`: its last byte, two hex digits.
fn shard(media_id: Uuid) -> String {
    format!("{:02x}", media_id.as_bytes()[15])
}

/// Object key of an upload's original bytes.
pub fn original_key(media_id: Uuid) -> String {
    format!("media/originals/{}/{media_id}", shard(media_id))
}

/// Object key of a variant.
pub fn variant_key(media_id: Uuid, name: &str) -> String {
    format!("{}/{name}", variants_prefix(media_id))
}

/// The prefix of every variant of `media_id`.
fn variants_prefix(media_id: Uuid) -> String {
    format!("media/variants/{}/{media_id}", shard(media_id))
}

/// Where the old layout kept an original.
pub fn legacy_original_key(media_id: Uuid) -> String {
    format!("media/{media_id}/original")
}

/// Where the old layout kept a variant.
pub fn legacy_variant_key(media_id: Uuid, name: &str) -> String {
    format!("media/{media_id}/variants/{name}")
}

/// The original of `media_id`, from either layout.
pub async fn get_original(storage: &Storage, media_id: Uuid) -> Result<Bytes, StorageError> {
    from_either(
        original_key(media_id),
        legacy_original_key(media_id),
        |key| async move { storage.get(&key).await },
    )
    .await
}

/// A variant of `media_id`, streamed, from either layout.
pub async fn variant_stream(
    storage: &Storage,
    media_id: Uuid,
    name: &str,
) -> Result<BoxStream<'static, Result<Bytes, object_store::Error>>, StorageError> {
    from_either(
        variant_key(media_id, name),
        legacy_variant_key(media_id, name),
        |key| async move { storage.get_stream(&key).await },
    )
    .await
}

/// `read` of the key of this layout, or of the old layout's when that one is
/// missing; when both are, the miss names the new key.
async fn from_either<T, F, Fut>(new: String, old: String, read: F) -> Result<T, StorageError>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<T, StorageError>>,
{
    match read(new).await {
        Err(StorageError::NotFound(missing)) => match read(old).await {
            Err(StorageError::NotFound(_)) => Err(StorageError::NotFound(missing)),
            other => other,
        },
        other => other,
    }
}

/// Deletes every object of `media_id`, in either layout; missing ones are fine.
pub async fn remove(storage: &Storage, media_id: Uuid) -> Result<(), StorageError> {
    storage.delete(&original_key(media_id)).await?;
    storage.delete_prefix(&variants_prefix(media_id)).await?;
    storage
        .delete_prefix(&format!("media/{media_id}"))
        .await
        .map(|_| ())
}

/// Readies `storage` for the layout: creates the original shards on a local
/// store, then moves what the old layout left, once. Returns how many objects
/// it moved. Several processes may run it at once: an object another one
/// moved first is skipped.
pub async fn prepare(storage: &Storage) -> Result<u64, StorageError> {
    storage.create_folders((0..=u8::MAX).map(|b| format!("media/originals/{b:02x}")))?;
    if storage.exists(MARKER).await? {
        return Ok(0);
    }
    let mut moved = 0;
    for (key, _) in storage.list("media").await? {
        let Some(new) = new_key(&key) else {
            continue;
        };
        match storage.rename(&key, &new).await {
            Ok(()) => moved += 1,
            Err(StorageError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    storage.put(MARKER, "2\n".into()).await?;
    if moved > 0 {
        tracing::info!(moved, "moved media objects to the sharded layout");
    }
    Ok(moved)
}

/// The new key of an object the old layout named, `None` for anything else.
fn new_key(old: &str) -> Option<String> {
    let mut parts = old.split('/');
    if parts.next() != Some("media") {
        return None;
    }
    let id: Uuid = parts.next()?.parse().ok()?;
    match (parts.next(), parts.next(), parts.next()) {
        (Some("original"), None, None) => Some(original_key(id)),
        (Some("variants"), Some(name), None) if !name.is_empty() => Some(variant_key(id, name)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_use_one_of_256_shards_taken_from_the_ids_random_end() {
        let id: Uuid = "01936f4e-8f2b-7c3d-9a1b-0123456789ab"
            .parse()
            .expect("uuid");
        assert_eq!(
            original_key(id),
            "media/originals/ab/01936f4e-8f2b-7c3d-9a1b-0123456789ab"
        );
        assert_eq!(
            variant_key(id, "thumb.webp"),
            "media/variants/ab/01936f4e-8f2b-7c3d-9a1b-0123456789ab/thumb.webp"
        );
    }

    #[test]
    fn only_objects_of_the_old_layout_get_a_new_key() {
        let id = Uuid::now_v7();
        assert_eq!(new_key(&legacy_original_key(id)), Some(original_key(id)));
        assert_eq!(
            new_key(&legacy_variant_key(id, "small.jpeg")),
            Some(variant_key(id, "small.jpeg"))
        );
        for other in [
            original_key(id),
            variant_key(id, "small.jpeg"),
            MARKER.to_owned(),
            format!("media/{id}/original/extra"),
            format!("media/{id}/variants/"),
            "media/not-an-id/original".to_owned(),
            format!("backups/{id}/original"),
        ] {
            assert_eq!(new_key(&other), None, "{other}");
        }
    }
}
