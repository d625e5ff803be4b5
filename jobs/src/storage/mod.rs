//! Object storage for uploads, variants and backups: a local folder or S3-compatible,
//! through the `object_store` crate.

pub mod config;

use std::{
    path::{Path as FsPath, PathBuf},
    sync::Arc,
};

use anyhow::Context as _;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::{
    ObjectStore, ObjectStoreExt, PutPayload, aws::AmazonS3Builder, buffered::BufWriter,
    local::LocalFileSystem, path::Path,
};
use tokio::io::{AsyncRead, AsyncWriteExt};

/// A streaming upload ([`Storage::writer`]).
pub type StorageWriter = BufWriter;

/// Errors from the object store.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// No object at that key.
    #[error("object not found: {0}")]
    NotFound(String),
    /// Anything else (I/O, network, credentials).
    #[error("object store: {0}")]
    Other(#[from] object_store::Error),
    /// Local I/O while streaming.
    #[error("object store i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// A cheaply cloneable handle to the configured object store.
#[derive(Debug, Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    description: String,
    /// The folder of a local store.
    local_root: Option<PathBuf>,
}

impl Storage {
    /// Opens the store named by `url`: a path, `file:///path` or `s3://bucket[/prefix]`.
    pub fn open(url: &str) -> anyhow::Result<Storage> {
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let s3 = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()
                .context("configure S3 object store")?;
            let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                Arc::new(s3)
            } else {
                Arc::new(object_store::prefix::PrefixStore::new(s3, prefix))
            };
            return Ok(Storage {
                store,
                description: url.to_owned(),
                local_root: None,
            });
        }
        let path = url.strip_prefix("file://").unwrap_or(url);
        std::fs::create_dir_all(path).with_context(|| format!("create storage folder {path}"))?;
        let fs = LocalFileSystem::new_with_prefix(FsPath::new(path))
            .with_context(|| format!("open storage folder {path}"))?
            .with_automatic_cleanup(true);
        Ok(Storage {
            store: Arc::new(fs),
            description: format!("file://{path}"),
            local_root: Some(PathBuf::from(path)),
        })
    }

    /// Where objects live, for logs.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Writes `bytes` at `key`.
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), StorageError> {
        self.store
            .put(&Path::from(key), PutPayload::from_bytes(bytes))
            .await?;
        Ok(())
    }

    /// A streaming upload to `key` (multipart on S3, a staged file on disk):
    /// nothing is visible at `key` until `shutdown` completes it, and `abort`
    /// throws it away.
    pub fn writer(&self, key: &str) -> StorageWriter {
        BufWriter::new(Arc::clone(&self.store), Path::from(key))
    }

    /// Streams `reader` to `key` without holding it in memory (multipart on S3).
    pub async fn put_stream(
        &self,
        key: &str,
        mut reader: impl AsyncRead + Unpin,
    ) -> Result<u64, StorageError> {
        let mut writer = self.writer(key);
        let copied = match tokio::io::copy(&mut reader, &mut writer).await {
            Ok(n) => n,
            Err(e) => {
                let _ = writer.abort().await;
                return Err(e.into());
            }
        };
        writer.shutdown().await?;
        Ok(copied)
    }

    /// Creates the folders of `prefixes` on a local store, so that writing
    /// under them later creates none (object stores have no folders: there it
    /// does nothing).
    pub fn create_folders(
        &self,
        prefixes: impl IntoIterator<Item = String>,
    ) -> Result<(), StorageError> {
        if let Some(root) = &self.local_root {
            for prefix in prefixes {
                std::fs::create_dir_all(root.join(Path::from(prefix).as_ref()))?;
            }
        }
        Ok(())
    }

    /// True when an object is stored at `key`.
    pub async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        match self.store.head(&Path::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Moves the object at `from` to `to`, replacing what `to` held (a rename
    /// on disk, a copy and a delete on S3).
    pub async fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
        self.store
            .rename(&Path::from(from), &Path::from(to))
            .await
            .map_err(|e| map_nf(from, e))
    }

    /// Reads the whole object at `key`.
    pub async fn get(&self, key: &str) -> Result<Bytes, StorageError> {
        let res = self
            .store
            .get(&Path::from(key))
            .await
            .map_err(|e| map_nf(key, e))?;
        Ok(res.bytes().await?)
    }

    /// Streams the object at `key`.
    pub async fn get_stream(
        &self,
        key: &str,
    ) -> Result<BoxStream<'static, Result<Bytes, object_store::Error>>, StorageError> {
        let res = self
            .store
            .get(&Path::from(key))
            .await
            .map_err(|e| map_nf(key, e))?;
        Ok(res.into_stream())
    }

    /// The object at `key` as a reader, streamed.
    pub async fn reader(
        &self,
        key: &str,
    ) -> Result<impl AsyncRead + Unpin + Send + 'static, StorageError> {
        use futures::TryStreamExt;
        let stream = self.get_stream(key).await?;
        Ok(tokio_util::io::StreamReader::new(
            stream.map_err(std::io::Error::other),
        ))
    }

    /// The size of the object at `key`.
    pub async fn size(&self, key: &str) -> Result<u64, StorageError> {
        let meta = self
            .store
            .head(&Path::from(key))
            .await
            .map_err(|e| map_nf(key, e))?;
        Ok(meta.size)
    }

    /// Every object under `prefix`, with its size.
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, StorageError> {
        use futures::TryStreamExt;
        let prefix = Path::from(prefix);
        Ok(self
            .store
            .list(Some(&prefix))
            .map_ok(|m| (m.location.to_string(), m.size))
            .try_collect()
            .await?)
    }

    /// Deletes the object at `key`; a missing object is fine.
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes every object under `prefix`; missing objects are fine.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<usize, StorageError> {
        use futures::TryStreamExt;
        let prefix = Path::from(prefix);
        let keys: Vec<Path> = self
            .store
            .list(Some(&prefix))
            .map_ok(|m| m.location)
            .try_collect()
            .await?;
        for key in &keys {
            match self.store.delete(key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(keys.len())
    }

    /// A cheap round trip for readiness checks.
    pub async fn ping(&self) -> Result<(), StorageError> {
        self.exists(".kiln-ping").await.map(drop)
    }
}

fn map_nf(key: &str, e: object_store::Error) -> StorageError {
    match e {
        object_store::Error::NotFound { .. } => StorageError::NotFound(key.to_owned()),
        e => StorageError::Other(e),
    }
}
