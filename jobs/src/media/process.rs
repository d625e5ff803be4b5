//! The `image.process` handler: decode, make the variants, store them, mark
//! the media row ready.

use bytes::Bytes;
use chrono::Utc;
use sha2::{Digest, Sha256};

use super::{ImageProcessV1, StoredVariant, layout, pipeline, repo, variant_key};
use crate::{
    JobRun, JobStatus,
    context::JobCtx,
    job::{Classify, JobError},
    storage::StorageError,
};

fn storage_error(e: StorageError) -> JobError {
    match e {
        StorageError::NotFound(k) => JobError::Abort(format!("original upload is missing ({k})")),
        e => JobError::Retry(e.into()),
    }
}

/// Runs `image.process`.
pub async fn run(ctx: &JobCtx, job: ImageProcessV1) -> Result<serde_json::Value, JobError> {
    let app = &ctx.app;
    let id = job.media_id;
    if repo::get(&app.db, id, None).await.retry()?.is_none() {
        return Err(JobError::Abort(
            "media was deleted before processing".into(),
        ));
    }
    let original = layout::get_original(&app.storage, id)
        .await
        .map_err(storage_error)?;
    ctx.progress(10).await;

    let permit = app.cpu_permits.clone().acquire_owned().await.retry()?;
    let cfg = app.config.media.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        pipeline::process(&original, &cfg)
    })
    .await
    .map_err(|e| JobError::Retry(anyhow::anyhow!("image processing panicked: {e}")))?;
    let processed = match outcome {
        Ok(p) => p,
        Err(e) if e.is_permanent() => {
            let reason = format!("image rejected: {e}");
            if let Err(db) = repo::mark_failed(&app.db, id, &reason, Utc::now()).await {
                tracing::warn!(media_id = %id, error = %db, "could not mark media failed");
            }
            return Err(JobError::Abort(reason));
        }
        Err(e) => return Err(JobError::Retry(anyhow::anyhow!("image processing: {e}"))),
    };
    ctx.progress(70).await;

    let mut stored = Vec::with_capacity(processed.variants.len());
    for v in processed.variants {
        let name = format!("{}.{}", v.preset, v.format.extension());
        let etag = hex::encode(Sha256::digest(&v.bytes));
        let bytes = v.bytes.len() as u64;
        app.storage
            .put(&variant_key(id, &name), Bytes::from(v.bytes))
            .await
            .map_err(storage_error)?;
        stored.push(StoredVariant {
            name,
            preset: v.preset,
            format: v.format.as_str().to_owned(),
            content_type: v.format.mime().to_owned(),
            width: v.width,
            height: v.height,
            bytes,
            etag,
        });
    }
    let ready = repo::Ready {
        width: i32::try_from(processed.source.width).unwrap_or(i32::MAX),
        height: i32::try_from(processed.source.height).unwrap_or(i32::MAX),
        blurhash: &processed.blurhash,
        dominant_color: &processed.dominant_color,
        variants: &stored,
    };
    if !repo::mark_ready(&app.db, id, &ready, Utc::now())
        .await
        .retry()?
    {
        // Deleted while we worked: drop what we wrote.
        let _ = layout::remove(&app.storage, id).await;
        return Err(JobError::Abort(
            "media was deleted during processing".into(),
        ));
    }
    Ok(serde_json::json!({
        "media_id": id,
        "width": processed.source.width,
        "height": processed.source.height,
        "variants": stored.iter().map(|v| &v.name).collect::<Vec<_>>(),
    }))
}

/// Marks the media of an `image.process` job that ended `failed` or `dead`
/// without its handler recording it (a missing original, retries spent, a
/// lost worker) failed, so it does not stay `processing`.
pub async fn close_unfinished(
    app: &crate::context::AppContext,
    job: &JobRun,
    status: JobStatus,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    let db = &app.db;
    if !matches!(status, JobStatus::Failed | JobStatus::Dead) {
        return Ok(());
    }
    let error = error.unwrap_or("the processing job ended without a result");
    repo::finish_job(db, job.id, error, Utc::now()).await
}
