//! Accepting an upload: the original is stored before its job exists (a job
//! never points at missing bytes), then the media row and its `image.process`
//! job commit in one transaction, then the job is handed to its queue. A
//! failure at any step removes what the earlier steps wrote, so nothing
//! dangles: no object without a row, no row without a job.

use bytes::Bytes;
use chrono::Utc;
use uuid::Uuid;

use super::{ImageProcessV1, layout, original_key, repo, sniff::SourceFormat};
use crate::{
    context::AppContext,
    job::Job,
    ledger::{Enqueued, LedgerError, NewJob},
    storage::StorageError,
};

/// The original's bytes, as the HTTP tier received them.
#[derive(Debug)]
pub enum Original {
    /// A small file, whole.
    Bytes(Bytes),
    /// A large file, positioned at its start.
    File(tokio::fs::File),
}

/// One upload to accept.
#[derive(Debug, Clone)]
pub struct NewUpload<'a> {
    /// Who uploads (and owns the media and its job).
    pub owner: &'a str,
    /// The file name as sent.
    pub filename: Option<&'a str>,
    /// The format detected from the first bytes.
    pub format: SourceFormat,
    /// Size of the original in bytes.
    pub size: u64,
    /// Makes the upload idempotent per owner.
    pub idempotency_key: Option<&'a str>,
}

/// What [`accept`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// A new media row and its processing job.
    Created {
        /// The media id.
        media_id: Uuid,
        /// Its `image.process` job.
        job_id: Uuid,
    },
    /// The idempotency key named an earlier upload; nothing new was stored.
    Existing {
        /// The earlier media id.
        media_id: Uuid,
        /// Its job.
        job_id: Uuid,
        /// Its status now (`deleted` when it was removed since).
        status: String,
    },
}

/// Why an upload was not accepted. Nothing of it is left behind.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// Object storage refused the original.
    #[error("object storage: {0}")]
    Storage(#[from] StorageError),
    /// The ledger or the queue failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The idempotency key was used for another kind of request.
    #[error("this idempotency key was used for a different request")]
    KeyReused,
}

impl From<sqlx::Error> for UploadError {
    fn from(e: sqlx::Error) -> Self {
        UploadError::Ledger(LedgerError::Db(e))
    }
}

/// Stores `original` and queues its processing (see the module docs).
pub async fn accept(
    app: &AppContext,
    upload: &NewUpload<'_>,
    original: Original,
) -> Result<Accepted, UploadError> {
    let media_id = Uuid::now_v7();
    let key = original_key(media_id);
    match original {
        Original::Bytes(bytes) => app.storage.put(&key, bytes).await?,
        Original::File(f) => {
            app.storage.put_stream(&key, f).await?;
        }
    }
    let out = match commit(app, upload, media_id).await {
        Ok(out) => out,
        Err(e) => {
            remove_objects(app, media_id).await;
            return Err(e);
        }
    };
    if let Err(e) = app.ledger.after_commit(&out).await {
        // The queue did not take the job: undo the upload.
        if let Err(db) = repo::delete(&app.db, media_id, Some(upload.owner)).await {
            tracing::warn!(%media_id, error = %db, "could not remove the media row of an undelivered job");
        }
        app.ledger.forget_undelivered(out.job().id).await;
        remove_objects(app, media_id).await;
        return Err(e.into());
    }
    match out {
        Enqueued::Created(job) => {
            app.metrics.record_upload(upload.format.as_str());
            Ok(Accepted::Created {
                media_id,
                job_id: job.id,
            })
        }
        Enqueued::Existing(job) => {
            remove_objects(app, media_id).await;
            let Ok(earlier) = ImageProcessV1::from_payload(job.payload) else {
                return Err(UploadError::KeyReused);
            };
            let status = repo::get(&app.db, earlier.media_id, Some(upload.owner))
                .await?
                .map_or_else(|| "deleted".to_owned(), |m| m.status);
            Ok(Accepted::Existing {
                media_id: earlier.media_id,
                job_id: job.id,
                status,
            })
        }
    }
}

/// Writes the job and, when it is new, its media row, in one transaction.
async fn commit(
    app: &AppContext,
    upload: &NewUpload<'_>,
    media_id: Uuid,
) -> Result<Enqueued, UploadError> {
    let job = NewJob {
        idempotency_key: upload.idempotency_key.map(|k| format!("media:{k}")),
        ..NewJob::new(upload.owner, ImageProcessV1 { media_id })
    };
    let mut tx = app.db.begin().await?;
    let out = app.ledger.enqueue_in_tx(&mut tx, job).await?;
    if let Enqueued::Created(j) = &out {
        repo::insert(
            &mut tx,
            &repo::InsertMedia {
                id: media_id,
                owner: upload.owner,
                job_id: j.id,
                filename: upload.filename,
                source_format: upload.format.as_str(),
                source_bytes: i64::try_from(upload.size).unwrap_or(i64::MAX),
                now: Utc::now(),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(out)
}

/// Removes everything stored under `media_id`; a failure is only logged.
async fn remove_objects(app: &AppContext, media_id: Uuid) {
    if let Err(e) = layout::remove(&app.storage, media_id).await {
        tracing::warn!(%media_id, error = %e, "could not remove the objects of an upload that was not accepted");
    }
}

/// Deletes a media row (for `owner`, or whoever owns it when None), cancels
/// its processing job if it is still queued, and removes its original and
/// variants. False when there was no such row.
pub async fn remove(
    app: &AppContext,
    media_id: Uuid,
    owner: Option<&str>,
) -> Result<bool, UploadError> {
    let Some(m) = repo::get(&app.db, media_id, owner).await? else {
        return Ok(false);
    };
    if !repo::delete(&app.db, m.id, owner).await? {
        return Ok(false);
    }
    if let Err(e) = app.ledger.cancel(m.job_id, None).await {
        tracing::debug!(job_id = %m.job_id, error = %e, "processing job not cancelled");
    }
    layout::remove(&app.storage, m.id).await?;
    Ok(true)
}
