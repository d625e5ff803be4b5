//! `/v1/webhooks`: the caller's webhook endpoints, their delivery logs, and
//! test deliveries.

use chrono::Utc;
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use serde_json::json;
use uuid::Uuid;

use kiln_jobs::{
    AppContext,
    delivery::webhook::{WebhookSecret, ssrf},
    webhooks::{
        self as family, EventType, TEST_EVENT,
        events::{self, Event},
        repo::{self as webhooks, DeliveryRow, WebhookRow},
    },
};

use crate::{
    ApiTags, Scope,
    auth::Auth,
    endpoints::{auth::NoContent, page, parse_cursor, stored_list},
    error::ApiError,
};

/// An event type an endpoint can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "EventType")]
pub enum EventTypeDto {
    /// One of your jobs succeeded.
    #[oai(rename = "job.succeeded")]
    JobSucceeded,
    /// One of your jobs failed permanently.
    #[oai(rename = "job.failed")]
    JobFailed,
    /// One of your jobs spent its attempts.
    #[oai(rename = "job.dead")]
    JobDead,
    /// One of your uploads was processed; its variants are ready.
    #[oai(rename = "media.ready")]
    MediaReady,
    /// A database backup was stored. Operators and admins only.
    #[oai(rename = "backup.succeeded")]
    BackupSucceeded,
    /// A database backup failed for good. Operators and admins only.
    #[oai(rename = "backup.failed")]
    BackupFailed,
    /// A stored backup did not restore or did not match its manifest.
    /// Operators and admins only.
    #[oai(rename = "backup.verify_failed")]
    BackupVerifyFailed,
    /// A reported target's priority crossed the auto-hide threshold.
    /// Moderators and admins only.
    #[oai(rename = "report.escalated")]
    ReportEscalated,
    /// One of your reports was resolved or dismissed.
    #[oai(rename = "report.updated")]
    ReportUpdated,
}

impl From<EventTypeDto> for EventType {
    fn from(e: EventTypeDto) -> Self {
        match e {
            EventTypeDto::JobSucceeded => EventType::JobSucceeded,
            EventTypeDto::JobFailed => EventType::JobFailed,
            EventTypeDto::JobDead => EventType::JobDead,
            EventTypeDto::MediaReady => EventType::MediaReady,
            EventTypeDto::BackupSucceeded => EventType::BackupSucceeded,
            EventTypeDto::BackupFailed => EventType::BackupFailed,
            EventTypeDto::BackupVerifyFailed => EventType::BackupVerifyFailed,
            EventTypeDto::ReportEscalated => EventType::ReportEscalated,
            EventTypeDto::ReportUpdated => EventType::ReportUpdated,
        }
    }
}

/// A new endpoint.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct WebhookIn {
    /// Where to POST events: an `https://` (or `http://`) URL on a public address.
    #[oai(
        validator(min_length = 1, max_length = 2048),
        deserialize_with = "crate::endpoints::text"
    )]
    pub url: String,
    /// The events to send.
    #[oai(validator(min_items = 1, max_items = 16))]
    pub events: Vec<EventTypeDto>,
    /// A note for yourself (at most 200 characters).
    #[oai(
        nullable,
        validator(max_length = 200),
        deserialize_with = "crate::endpoints::optional_text"
    )]
    pub description: Option<String>,
}

/// A change to an endpoint; absent fields stay as they are.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct WebhookPatch {
    /// A new target URL.
    #[oai(
        nullable,
        validator(min_length = 1, max_length = 2048),
        deserialize_with = "crate::endpoints::optional_text"
    )]
    pub url: Option<String>,
    /// A new list of events (replaces the old one).
    #[oai(nullable, validator(min_items = 1, max_items = 16))]
    pub events: Option<Vec<EventTypeDto>>,
    /// A new note.
    #[oai(
        nullable,
        validator(max_length = 200),
        deserialize_with = "crate::endpoints::optional_text"
    )]
    pub description: Option<String>,
    /// Enable (which also clears the failure run that disabled it) or disable.
    #[oai(nullable)]
    pub enabled: Option<bool>,
}

/// An endpoint (never its secret after creation).
#[derive(Debug, Clone, Object)]
pub struct WebhookOut {
    /// Endpoint id.
    pub id: Uuid,
    /// Target URL.
    pub url: String,
    /// A note.
    #[oai(nullable)]
    pub description: Option<String>,
    /// Subscribed event types.
    pub events: Vec<EventTypeDto>,
    /// False when disabled, by its owner or after too many failed attempts in a row.
    pub enabled: bool,
    /// Why it is disabled.
    #[oai(nullable)]
    pub disabled_reason: Option<String>,
    /// Failed delivery attempts since the last success.
    pub consecutive_failures: i32,
    /// During a secret rotation: until when deliveries are also signed with
    /// the previous secret.
    #[oai(nullable)]
    pub previous_secret_expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When it was created.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When it last changed.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<WebhookRow> for WebhookOut {
    fn from(w: WebhookRow) -> Self {
        WebhookOut {
            id: w.id,
            url: w.url,
            description: w.description,
            events: stored_list("event type", &w.events),
            enabled: w.enabled,
            disabled_reason: w.disabled_reason,
            consecutive_failures: w.consecutive_failures,
            previous_secret_expires_at: w
                .previous_secret_expires_at
                .filter(|until| *until > Utc::now()),
            created_at: w.created_at,
            updated_at: w.updated_at,
        }
    }
}

/// An endpoint just created: the only time its secret is shown.
#[derive(Debug, Clone, Object)]
pub struct WebhookCreatedOut {
    /// The signing secret (`whsec_…`, Standard Webhooks). Store it now: it
    /// cannot be shown again. Verify each delivery's `webhook-signature` with it.
    pub secret: String,
    /// The stored endpoint.
    #[oai(flatten)]
    pub info: WebhookOut,
}

/// A created endpoint.
#[derive(Debug, ApiResponse)]
pub enum WebhookCreated {
    /// Created.
    #[oai(status = 201)]
    Created(Json<WebhookCreatedOut>),
}

/// A rotated secret.
#[derive(Debug, ApiResponse)]
pub enum SecretRotated {
    /// The new secret, shown once; the old one keeps signing until
    /// `previous_secret_expires_at`.
    #[oai(status = 200)]
    Rotated(Json<WebhookCreatedOut>),
}

/// The caller's endpoints.
#[derive(Debug, Clone, Object)]
pub struct WebhookList {
    /// Newest first.
    pub items: Vec<WebhookOut>,
}

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting for its first attempt.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// The last attempt failed; another is scheduled.
    Retrying,
    /// Failed permanently (a 4xx other than 408/429, a refused target, or the
    /// attempt that disabled the endpoint).
    Failed,
    /// Every attempt failed.
    Dead,
    /// Not sent: the endpoint was disabled or deleted first.
    Skipped,
}

impl From<family::DeliveryStatus> for DeliveryStatus {
    fn from(s: family::DeliveryStatus) -> Self {
        match s {
            family::DeliveryStatus::Pending => DeliveryStatus::Pending,
            family::DeliveryStatus::Delivered => DeliveryStatus::Delivered,
            family::DeliveryStatus::Retrying => DeliveryStatus::Retrying,
            family::DeliveryStatus::Failed => DeliveryStatus::Failed,
            family::DeliveryStatus::Dead => DeliveryStatus::Dead,
            family::DeliveryStatus::Skipped => DeliveryStatus::Skipped,
        }
    }
}

/// One event sent (or being sent) to an endpoint.
#[derive(Debug, Clone, Object)]
pub struct DeliveryOut {
    /// Delivery id.
    pub id: Uuid,
    /// The `webhook-id` header of every attempt (`msg_…`); receivers deduplicate on it.
    pub message_id: String,
    /// The event type.
    pub event_type: String,
    /// The body sent, parsed.
    pub payload: serde_json::Value,
    /// The `webhook.deliver` job.
    #[oai(nullable)]
    pub job_id: Option<Uuid>,
    /// Where it is.
    pub status: DeliveryStatus,
    /// Attempts so far.
    pub attempts: i32,
    /// The HTTP status of the last answer, if the receiver answered.
    #[oai(nullable)]
    pub response_status: Option<i32>,
    /// The start of the last answer's body.
    #[oai(nullable)]
    pub response_body: Option<String>,
    /// Why the last attempt failed.
    #[oai(nullable)]
    pub error: Option<String>,
    /// When the event was queued.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When it last changed.
    pub updated_at: chrono::DateTime<chrono::Utc>,
    /// When the receiver acknowledged it.
    #[oai(nullable)]
    pub delivered_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<DeliveryRow> for DeliveryOut {
    fn from(d: DeliveryRow) -> Self {
        DeliveryOut {
            id: d.id,
            message_id: format!("msg_{}", d.id.simple()),
            event_type: d.event_type,
            payload: serde_json::from_str(&d.payload).unwrap_or(serde_json::Value::Null),
            job_id: d.job_id,
            status: d.status.into(),
            attempts: d.attempts,
            response_status: d.response_status,
            response_body: d.response_body,
            error: d.error,
            created_at: d.created_at,
            updated_at: d.updated_at,
            delivered_at: d.delivered_at,
        }
    }
}

/// A page of deliveries.
#[derive(Debug, Clone, Object)]
pub struct DeliveryPage {
    /// Newest first.
    pub items: Vec<DeliveryOut>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// A queued test delivery.
#[derive(Debug, Clone, Object)]
#[oai(rename = "WebhookTestQueued")]
pub struct TestQueued {
    /// The delivery (see the endpoint's deliveries).
    pub delivery_id: Uuid,
    /// Its `webhook.deliver` job.
    pub job_id: Uuid,
}

/// A queued test.
#[derive(Debug, ApiResponse)]
pub enum TestAccepted {
    /// Queued: a worker delivers it.
    #[oai(status = 202)]
    Accepted(Json<TestQueued>),
}

/// Checks a target URL (see [`ssrf::check_endpoint`]): 422 when refused.
fn check_target(app: &AppContext, url: &str) -> Result<String, ApiError> {
    ssrf::check_endpoint(url, app.config.webhooks.allow_private_targets).map_err(|e| match e {
        ssrf::TargetError::Private(_) => ApiError::unprocessable("private_target", e.to_string()),
        _ => ApiError::unprocessable("invalid_url", e.to_string()),
    })
}

/// The stored form of an event list: unique, in a stable order. System
/// events (`backup.*`) are for operators and admins and `report.escalated`
/// for moderators and admins: 403 for anyone else.
fn event_list(auth: &Auth, events: &[EventTypeDto]) -> Result<String, ApiError> {
    let role = auth.principal().role;
    if let Some(e) = events
        .iter()
        .map(|e| EventType::from(*e))
        .find(|e| !e.allowed_for(role))
    {
        return Err(ApiError::forbidden(format!(
            "the {role} role may not subscribe to {e}"
        )));
    }
    let mut names: Vec<&str> = events
        .iter()
        .map(|e| EventType::from(*e).as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    Ok(names.join(" "))
}

/// Webhook endpoints. Each user manages their own; staff roles see only theirs too.
pub struct WebhooksApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Webhooks")]
impl WebhooksApi {
    /// Create a webhook endpoint
    ///
    /// Any user, for themselves (scope `webhooks:write`). Answers the signing
    /// secret once. Events of the caller's own jobs and uploads are delivered
    /// to it, signed per Standard Webhooks.
    #[oai(path = "/webhooks", method = "post", operation_id = "webhooks_create")]
    async fn create(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        body: Json<WebhookIn>,
    ) -> Result<WebhookCreated, ApiError> {
        auth.principal().require_scope(Scope::WebhooksWrite)?;
        let user = auth.principal().user_id()?;
        let url = check_target(&app, &body.url)?;
        let max = app.config.webhooks.max_per_user;
        let secret = WebhookSecret::generate().expose();
        let row = webhooks::insert_capped(
            &app.db,
            &webhooks::NewWebhook {
                id: Uuid::now_v7(),
                user_id: user,
                url: &url,
                description: body.description.as_deref(),
                events: &event_list(&auth, &body.events)?,
                secret: &secret,
                now: Utc::now(),
            },
            i64::from(max),
        )
        .await?
        .ok_or_else(|| {
            ApiError::conflict_code(
                "too_many_webhooks",
                format!("at most {max} webhook endpoints; delete one first"),
            )
        })?;
        app.subscriptions.invalidate(user);
        Ok(WebhookCreated::Created(Json(WebhookCreatedOut {
            secret,
            info: row.into(),
        })))
    }

    /// List the caller's webhook endpoints
    ///
    /// Any user (scope `webhooks:read`).
    #[oai(path = "/webhooks", method = "get", operation_id = "webhooks_list")]
    async fn list(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
    ) -> Result<Json<WebhookList>, ApiError> {
        auth.principal().require_scope(Scope::WebhooksRead)?;
        let user = auth.principal().user_id()?;
        let items = webhooks::list(&app.db, user)
            .await?
            .into_iter()
            .map(Into::into)
            .collect();
        Ok(Json(WebhookList { items }))
    }

    /// Get a webhook endpoint
    ///
    /// Any user, their own endpoints (scope `webhooks:read`); another user's is 404.
    #[oai(path = "/webhooks/:id", method = "get", operation_id = "webhooks_get")]
    async fn get(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        id: Path<Uuid>,
    ) -> Result<Json<WebhookOut>, ApiError> {
        auth.principal().require_scope(Scope::WebhooksRead)?;
        Ok(Json(own(&app, &auth, id.0).await?.into()))
    }

    /// Change a webhook endpoint
    ///
    /// Any user, their own endpoints (scope `webhooks:write`). `enabled: true`
    /// re-enables an endpoint that was disabled after failures.
    #[oai(
        path = "/webhooks/:id",
        method = "patch",
        operation_id = "webhooks_update"
    )]
    async fn update(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        id: Path<Uuid>,
        body: Json<WebhookPatch>,
    ) -> Result<Json<WebhookOut>, ApiError> {
        auth.principal().require_scope(Scope::WebhooksWrite)?;
        let user = auth.principal().user_id()?;
        let url = body
            .url
            .as_deref()
            .map(|u| check_target(&app, u))
            .transpose()?;
        let events = body
            .events
            .as_deref()
            .map(|e| event_list(&auth, e))
            .transpose()?;
        let change = webhooks::Update {
            url: url.as_deref(),
            description: body.description.as_deref(),
            events: events.as_deref(),
            enabled: body.enabled,
        };
        let row = webhooks::update(&app.db, id.0, user, &change, Utc::now())
            .await?
            .ok_or_else(|| ApiError::not_found("webhook"))?;
        app.subscriptions.invalidate(user);
        Ok(Json(row.into()))
    }

    /// Delete a webhook endpoint
    ///
    /// Any user, their own endpoints (scope `webhooks:write`). Its delivery
    /// log goes with it; queued deliveries are dropped.
    #[oai(
        path = "/webhooks/:id",
        method = "delete",
        operation_id = "webhooks_delete"
    )]
    async fn delete(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        id: Path<Uuid>,
    ) -> Result<NoContent, ApiError> {
        auth.principal().require_scope(Scope::WebhooksWrite)?;
        let user = auth.principal().user_id()?;
        if webhooks::delete(&app.db, id.0, user).await? {
            app.subscriptions.invalidate(user);
            Ok(NoContent::Done)
        } else {
            Err(ApiError::not_found("webhook"))
        }
    }

    /// List an endpoint's deliveries
    ///
    /// Any user, their own endpoints (scope `webhooks:read`), newest first.
    #[oai(
        path = "/webhooks/:id/deliveries",
        method = "get",
        operation_id = "webhooks_deliveries"
    )]
    async fn deliveries(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        id: Path<Uuid>,
        /// The `next_cursor` of the previous page (opaque).
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<DeliveryPage>, ApiError> {
        auth.principal().require_scope(Scope::WebhooksRead)?;
        let hook = own(&app, &auth, id.0).await?;
        let before = parse_cursor(cursor.0.as_deref())?;
        let limit = limit.0.unwrap_or(50);
        let rows =
            webhooks::list_deliveries(&app.db, hook.id, before, i64::from(limit) + 1).await?;
        let (rows, next_cursor) = page(rows, limit, |r| r.id);
        Ok(Json(DeliveryPage {
            items: rows.into_iter().map(Into::into).collect(),
            next_cursor,
        }))
    }

    /// Rotate an endpoint's signing secret
    ///
    /// Any user, their own endpoints (scope `webhooks:write`). Answers the new
    /// secret once. For `webhooks.secret_rotation_grace_secs` (default a day)
    /// every delivery carries two signatures, one per secret, so the receiver
    /// can switch to the new secret without missing a delivery.
    #[oai(
        path = "/webhooks/:id/rotate-secret",
        method = "post",
        operation_id = "webhooks_rotate_secret"
    )]
    async fn rotate_secret(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        id: Path<Uuid>,
    ) -> Result<SecretRotated, ApiError> {
        auth.principal().require_scope(Scope::WebhooksWrite)?;
        let user = auth.principal().user_id()?;
        let secret = WebhookSecret::generate().expose();
        let now = Utc::now();
        let grace =
            i64::try_from(app.config.webhooks.secret_rotation_grace_secs).unwrap_or(i64::MAX);
        let until = now + chrono::Duration::seconds(grace.min(365 * 86_400));
        let row = webhooks::rotate_secret(&app.db, id.0, user, &secret, until, now)
            .await?
            .ok_or_else(|| ApiError::not_found("webhook"))?;
        Ok(SecretRotated::Rotated(Json(WebhookCreatedOut {
            secret,
            info: row.into(),
        })))
    }

    /// Send a test event
    ///
    /// Any user, their own endpoints (scope `webhooks:write`). Queues a
    /// `webhook.test` event to this endpoint, signed and retried like any
    /// other; see its deliveries for the outcome. 409 when it is disabled.
    #[oai(
        path = "/webhooks/:id/test",
        method = "post",
        operation_id = "webhooks_test"
    )]
    async fn test(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        id: Path<Uuid>,
    ) -> Result<TestAccepted, ApiError> {
        auth.principal().require_scope(Scope::WebhooksWrite)?;
        let hook = own(&app, &auth, id.0).await?;
        if !hook.enabled {
            return Err(ApiError::conflict_code(
                "webhook_disabled",
                "the endpoint is disabled; enable it first",
            ));
        }
        let event = Event {
            kind: TEST_EVENT,
            key: None,
            data: json!({
                "webhook_id": hook.id,
                "message": "A test event from Kiln: the endpoint is reachable and the signature verifies.",
            }),
        };
        let queued = events::emit(&app, hook.user_id, &event, Some(&hook)).await?;
        let q = queued
            .first()
            .ok_or_else(|| ApiError::internal(&"the test delivery was not queued"))?;
        Ok(TestAccepted::Accepted(Json(TestQueued {
            delivery_id: q.delivery_id,
            job_id: q.job_id,
        })))
    }
}

/// The caller's endpoint `id`, or 404.
async fn own(app: &AppContext, auth: &Auth, id: Uuid) -> Result<WebhookRow, ApiError> {
    let user = auth.principal().user_id()?;
    webhooks::get(&app.db, id, Some(user))
        .await?
        .ok_or_else(|| ApiError::not_found("webhook"))
}
