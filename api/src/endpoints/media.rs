//! `/v1/media`: upload images, read their variants, delete them.

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use poem::{Body, web::Data};
use poem_openapi::{
    ApiResponse, Enum, Multipart, Object, OpenApi,
    param::{Header, Path},
    payload::{Binary, Json},
};
use uuid::Uuid;

use kiln_jobs::{
    AppContext, JobStatus,
    identity::Role,
    media::{
        self, StoredVariant, repo, sniff,
        upload::{self, Accepted, NewUpload, Original},
    },
    reports::{self, TargetType},
};

use crate::{
    ApiTags, Scope,
    auth::{Auth, Principal},
    body_limit::media_upload,
    endpoints::{object_err, reports::ReasonDto, stored_enum, stored_value, upload_err},
    error::ApiError,
    upload::{SpooledUpload, UploadBody},
};

/// An image upload.
#[derive(Debug, Multipart)]
pub struct MediaUpload {
    /// The image: JPEG, PNG, WebP or GIF (detected from its bytes).
    pub file: SpooledUpload,
}

/// A variant's image format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "VariantFormat", rename_all = "lowercase")]
pub enum VariantFormatDto {
    /// Baseline JPEG.
    Jpeg,
    /// Lossy WebP.
    Webp,
}

/// Where an upload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum MediaStatus {
    /// Its job has not finished yet.
    Processing,
    /// Its variants are ready.
    Ready,
    /// Processing failed; `error` says why.
    Failed,
    /// Hidden by moderation after reports; `hidden_reason` says why. Its
    /// variants are served to moderators and admins only.
    Hidden,
}

/// Who may see an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "MediaVisibility", rename_all = "lowercase")]
pub enum VisibilityDto {
    /// Its owner only (the default).
    Private,
    /// Every signed-in user (who can then also report it).
    Public,
}

impl VisibilityDto {
    fn as_str(self) -> &'static str {
        match self {
            VisibilityDto::Private => "private",
            VisibilityDto::Public => "public",
        }
    }
}

/// Changes to an upload.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct MediaPatch {
    /// Who may see it.
    pub visibility: VisibilityDto,
}

/// Answer to an accepted upload.
#[derive(Debug, Object)]
pub struct MediaAccepted {
    /// The media id.
    pub media_id: Uuid,
    /// The processing job; poll `GET /v1/jobs/{job_id}` or the media itself.
    pub job_id: Uuid,
    /// Media status (`processing` at first).
    pub status: MediaStatus,
}

/// Upload outcomes.
#[derive(Debug, ApiResponse)]
pub enum MediaCreated {
    /// Accepted: the image will be processed.
    #[oai(status = 202)]
    Accepted(Json<MediaAccepted>, #[oai(header = "Location")] String),
    /// The idempotency key was used before: the earlier upload's ids.
    #[oai(status = 200)]
    Existing(Json<MediaAccepted>, #[oai(header = "Location")] String),
}

/// A processed variant.
#[derive(Debug, Object)]
pub struct VariantOut {
    /// Name in the download URL, e.g. `thumb.webp`.
    pub name: String,
    /// Preset it was made for (`thumb`, `small`, `large`, …).
    pub preset: String,
    /// `jpeg` or `webp`.
    pub format: VariantFormatDto,
    /// MIME type.
    pub content_type: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Size in bytes.
    pub bytes: u64,
    /// Download URL.
    pub url: String,
}

/// An uploaded image and its variants.
#[derive(Debug, Object)]
pub struct MediaOut {
    /// The media id.
    pub id: Uuid,
    /// `processing`, `ready`, `failed` or `hidden`.
    pub status: MediaStatus,
    /// Who may see it.
    pub visibility: VisibilityDto,
    /// Why moderation hid it: the reason class of the reports (never who reported it).
    #[oai(nullable, skip_serializing_if_is_none)]
    pub hidden_reason: Option<ReasonDto>,
    /// The processing job.
    pub job_id: Uuid,
    /// Why processing failed.
    #[oai(nullable)]
    pub error: Option<String>,
    /// The uploaded file's name, as sent.
    #[oai(nullable)]
    pub filename: Option<String>,
    /// Detected source format.
    pub source_format: String,
    /// Size of the original in bytes.
    pub source_bytes: u64,
    /// Width after EXIF orientation.
    #[oai(nullable)]
    pub width: Option<u32>,
    /// Height after EXIF orientation.
    #[oai(nullable)]
    pub height: Option<u32>,
    /// A BlurHash placeholder.
    #[oai(nullable)]
    pub blurhash: Option<String>,
    /// Dominant colour as `#rrggbb`.
    #[oai(nullable)]
    pub dominant_color: Option<String>,
    /// Variants (empty until ready).
    pub variants: Vec<VariantOut>,
    /// Upload time.
    pub created_at: DateTime<Utc>,
}

/// Variant download outcomes.
#[derive(Debug, ApiResponse)]
pub enum VariantOutcome {
    /// The bytes.
    #[oai(status = 200)]
    Ok(
        Binary<Body>,
        #[oai(header = "Content-Type")] String,
        #[oai(header = "ETag")] String,
        #[oai(header = "Cache-Control")] String,
    ),
    /// The client's copy is current (`If-None-Match`).
    #[oai(status = 304)]
    NotModified(#[oai(header = "ETag")] String),
}

/// A variant download as the document describes it: [`VariantOutcome`],
/// with the 200 answer listed under each image type a variant is served as
/// (`image/jpeg`, `image/webp`) instead of the generic binary type, and its
/// `Content-Type` left to the media type (OpenAPI ignores a header of that
/// name).
#[derive(Debug)]
pub struct VariantResponse(VariantOutcome);

impl poem_openapi::ApiResponse for VariantResponse {
    fn meta() -> poem_openapi::registry::MetaResponses {
        let mut meta = VariantOutcome::meta();
        for response in meta.responses.iter_mut().filter(|r| r.status == Some(200)) {
            response
                .headers
                .retain(|h| !h.name.eq_ignore_ascii_case("content-type"));
            if let Some(binary) = response.content.pop() {
                response.content = media::pipeline::VariantFormat::ALL
                    .iter()
                    .map(|f| poem_openapi::registry::MetaMediaType {
                        content_type: f.mime(),
                        schema: binary.schema.clone(),
                    })
                    .collect();
            }
        }
        meta
    }

    fn register(registry: &mut poem_openapi::registry::Registry) {
        VariantOutcome::register(registry);
    }
}

impl poem::IntoResponse for VariantResponse {
    fn into_response(self) -> poem::Response {
        self.0.into_response()
    }
}

/// Media endpoints.
pub struct MediaApi;

/// How a caller may see a media row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sight {
    /// Its owner.
    Owner,
    /// Anyone signed in (public, not hidden).
    Viewer,
    /// A moderator looking at reported media, or an admin.
    Moderator,
}

/// A media row the caller may see, and how. Anything else is "not found":
/// someone else's private media, hidden media for everyone but its owner
/// and the moderators, and for moderators unreported private media.
async fn visible(
    app: &AppContext,
    id: Uuid,
    who: &Principal,
) -> Result<(repo::MediaRow, Sight), ApiError> {
    let m = repo::get(&app.db, id, None)
        .await?
        .ok_or_else(|| ApiError::not_found("media"))?;
    let sight = if m.owner == who.subject {
        Sight::Owner
    } else if who.role == Role::Admin
        || (who.role.may_moderate()
            && reports::repo::is_reported(&app.db, TargetType::Media, &m.id.to_string()).await?)
    {
        Sight::Moderator
    } else if m.visible_to(&who.subject) {
        Sight::Viewer
    } else {
        return Err(ApiError::not_found("media"));
    };
    Ok((m, sight))
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Media")]
impl MediaApi {
    /// Upload an image
    ///
    /// Stores the original and queues processing; answers 202 with the media
    /// and job ids. The content type is detected from the bytes. With an
    /// `Idempotency-Key` header, repeating the request returns the first
    /// upload (200) instead of creating another.
    #[oai(
        path = "/media",
        method = "post",
        operation_id = "media_create",
        transform = "media_upload"
    )]
    async fn create(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        /// Makes the upload idempotent for this caller (1–200 characters).
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 200))]
        idempotency_key: Header<Option<String>>,
        form: MediaUpload,
    ) -> Result<MediaCreated, ApiError> {
        auth.principal().require_scope(Scope::MediaWrite)?;
        let limit = app.config.media.max_upload_bytes;
        let mut file = form.file;
        let size = file.size();
        if size > limit {
            return Err(ApiError::too_large(limit));
        }
        if size == 0 {
            return Err(ApiError::unprocessable(
                "empty_file",
                "the uploaded file is empty",
            ));
        }
        let filename = file
            .file_name()
            .map(|n| n.chars().take(255).collect::<String>());
        let head = file
            .prefix::<16>()
            .await
            .map_err(|e| ApiError::internal(&e))?;
        let Some(format) = sniff::sniff(&head) else {
            return Err(ApiError::unsupported(
                "the file is not a JPEG, PNG, WebP or GIF image",
            ));
        };

        let owner = &auth.principal().subject;
        let original = match file.into_body() {
            UploadBody::Memory(bytes) => Original::Bytes(bytes),
            UploadBody::File(f) => Original::File(f),
        };
        let new = NewUpload {
            owner,
            filename: filename.as_deref(),
            format,
            size,
            idempotency_key: idempotency_key.0.as_deref(),
        };
        let accepted = upload::accept(&app, &new, original)
            .await
            .map_err(upload_err)?;
        Ok(match accepted {
            Accepted::Created { media_id, job_id } => MediaCreated::Accepted(
                Json(MediaAccepted {
                    media_id,
                    job_id,
                    status: MediaStatus::Processing,
                }),
                format!("/v1/media/{media_id}"),
            ),
            Accepted::Existing {
                media_id,
                job_id,
                status,
            } => MediaCreated::Existing(
                Json(MediaAccepted {
                    media_id,
                    job_id,
                    status: stored_value("media status", &status)?,
                }),
                format!("/v1/media/{media_id}"),
            ),
        })
    }

    /// Get an image
    ///
    /// Status, original metadata and variants with download URLs.
    #[oai(path = "/media/:id", method = "get", operation_id = "media_get")]
    async fn get(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        id: Path<Uuid>,
    ) -> Result<Json<MediaOut>, ApiError> {
        auth.principal().require_scope(Scope::MediaRead)?;
        let (m, sight) = visible(&app, id.0, auth.principal()).await?;
        let mut status = stored_value("media status", &m.status)?;
        let mut error = m.error.clone();
        if status == MediaStatus::Processing {
            // The job may have ended without the handler marking the row (dead after retries).
            if let Some(job) = app.ledger.get(m.job_id, None).await?
                && matches!(
                    job.status,
                    JobStatus::Failed | JobStatus::Dead | JobStatus::Cancelled
                )
            {
                status = MediaStatus::Failed;
                error = job
                    .last_error
                    .or(Some(format!("processing job is {}", job.status.as_str())));
            }
        }
        let public = app.config.public_url();
        let hidden = m.hidden_at.is_some();
        if hidden {
            status = MediaStatus::Hidden;
        }
        // A hidden upload's variants are for the moderators' eyes only.
        let variants = if hidden && sight != Sight::Moderator {
            Vec::new()
        } else {
            m.variants.0
        };
        Ok(Json(MediaOut {
            id: m.id,
            status,
            visibility: if m.visibility == "public" {
                VisibilityDto::Public
            } else {
                VisibilityDto::Private
            },
            hidden_reason: m
                .hidden_reason
                .as_deref()
                .filter(|_| sight != Sight::Viewer)
                .and_then(stored_enum),
            job_id: m.job_id,
            error,
            filename: m.filename,
            source_format: m.source_format,
            source_bytes: u64::try_from(m.source_bytes).unwrap_or(0),
            width: m.width.and_then(|w| u32::try_from(w).ok()),
            height: m.height.and_then(|h| u32::try_from(h).ok()),
            blurhash: m.blurhash,
            dominant_color: m.dominant_color,
            variants: variants
                .into_iter()
                .map(|v: StoredVariant| {
                    Ok(VariantOut {
                        url: media::variant_url(&public, m.id, &v.name),
                        format: stored_value("variant format", &v.format)?,
                        name: v.name,
                        preset: v.preset,
                        content_type: v.content_type,
                        width: v.width,
                        height: v.height,
                        bytes: v.bytes,
                    })
                })
                .collect::<Result<_, ApiError>>()?,
            created_at: m.created_at,
        }))
    }

    /// Download a variant
    ///
    /// Streams the bytes with their Content-Type and a strong ETag;
    /// `If-None-Match` with that ETag answers 304.
    #[oai(
        path = "/media/:id/variants/:name",
        method = "get",
        operation_id = "media_variant_get"
    )]
    async fn variant(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        id: Path<Uuid>,
        /// Variant name, e.g. `thumb.webp`.
        name: Path<String>,
        /// ETag of the copy the client has.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
    ) -> Result<VariantResponse, ApiError> {
        auth.principal().require_scope(Scope::MediaRead)?;
        let (m, sight) = visible(&app, id.0, auth.principal()).await?;
        if m.hidden_at.is_some() && sight != Sight::Moderator {
            return Err(ApiError::not_found("variant"));
        }
        let v = m
            .variants
            .0
            .into_iter()
            .find(|v| v.name == name.0)
            .ok_or_else(|| ApiError::not_found("variant"))?;
        let etag = format!("\"{}\"", v.etag);
        if let Some(inm) = if_none_match.0
            && inm.split(',').any(|t| t.trim() == etag || t.trim() == "*")
        {
            return Ok(VariantResponse(VariantOutcome::NotModified(etag)));
        }
        let stream = media::layout::variant_stream(&app.storage, m.id, &v.name)
            .await
            .map_err(object_err("variant"))?;
        let body = Body::from_bytes_stream(stream.map_err(std::io::Error::other));
        Ok(VariantResponse(VariantOutcome::Ok(
            Binary(body),
            v.content_type,
            etag,
            "private, max-age=31536000, immutable".into(),
        )))
    }

    /// Delete an image
    ///
    /// Removes the media, its original and every variant. A processing job
    /// still queued is cancelled.
    #[oai(path = "/media/:id", method = "delete", operation_id = "media_delete")]
    async fn delete(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        id: Path<Uuid>,
    ) -> Result<DeleteResponse, ApiError> {
        auth.principal().require_scope(Scope::MediaWrite)?;
        let removed = upload::remove(&app, id.0, Some(&auth.principal().subject))
            .await
            .map_err(upload_err)?;
        if !removed {
            return Err(ApiError::not_found("media"));
        }
        Ok(DeleteResponse::Deleted)
    }

    /// Change an image
    ///
    /// Sets who may see it: `private` (its owner) or `public` (every
    /// signed-in user, who may then report it). Owners only.
    #[oai(path = "/media/:id", method = "patch", operation_id = "media_update")]
    async fn update(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        id: Path<Uuid>,
        body: Json<MediaPatch>,
    ) -> Result<Json<MediaOut>, ApiError> {
        auth.principal().require_scope(Scope::MediaWrite)?;
        repo::set_visibility(
            &app.db,
            id.0,
            &auth.principal().subject,
            body.visibility.as_str(),
            Utc::now(),
        )
        .await?
        .ok_or_else(|| ApiError::not_found("media"))?;
        self.get(auth, app, id).await
    }
}

/// Delete outcome.
#[derive(Debug, ApiResponse)]
pub enum DeleteResponse {
    /// Deleted.
    #[oai(status = 204)]
    Deleted,
}
