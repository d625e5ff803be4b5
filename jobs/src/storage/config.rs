//! Settings of object storage (the `storage` section).

use serde::{Deserialize, Serialize};

/// Object storage settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// A local folder path, `file:///path`, or `s3://bucket[/prefix]` (env `STORAGE_URL`;
    /// default `{data_dir}/objects`). S3 credentials and endpoint come from the
    /// standard `AWS_*` variables (`AWS_ENDPOINT` for MinIO/R2).
    pub url: Option<String>,
}
