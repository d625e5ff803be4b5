//! `/v1/notifications`: send a notification to a user (operators), and read
//! one's own notification history.

use poem::web::Data;
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi,
    param::{Header, Query},
    payload::Json,
};
use uuid::Uuid;

use kiln_jobs::{
    AppContext,
    notifications::{
        self as family, NotificationRequest, NotifyChannel, NotifyError,
        repo::{self as notifications, NotificationRow},
    },
};

use crate::{
    ApiTags, Scope,
    auth::{Auth, BearerAuth},
    endpoints::{page, parse_cursor},
    error::ApiError,
};

/// A delivery channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Enum)]
#[oai(rename = "Channel", rename_all = "lowercase")]
pub enum ChannelDto {
    /// An email to the user's address.
    Email,
    /// A push to each of the user's active devices.
    Push,
}

impl From<ChannelDto> for NotifyChannel {
    fn from(c: ChannelDto) -> Self {
        match c {
            ChannelDto::Email => NotifyChannel::Email,
            ChannelDto::Push => NotifyChannel::Push,
        }
    }
}

/// A notification template (`jobs/templates/email/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "Template", rename_all = "snake_case")]
pub enum TemplateDto {
    /// Welcome to Kiln. Parameters: none needed.
    Welcome,
    /// A job finished. Parameters: `job_id`, `kind`, `status`, `job_url`, optional `error`.
    JobFinished,
    /// A report changed status. Parameters: `report_id`, `status`, `report_url`, optional `note`.
    ReportStatus,
}

impl TemplateDto {
    fn as_str(self) -> &'static str {
        match self {
            TemplateDto::Welcome => "welcome",
            TemplateDto::JobFinished => "job_finished",
            TemplateDto::ReportStatus => "report_status",
        }
    }
}

/// A notification to send.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct NotificationIn {
    /// The recipient's user id.
    pub user_id: Uuid,
    /// Channels, each at most once.
    #[oai(validator(min_items = 1, max_items = 2, unique_items))]
    pub channels: Vec<ChannelDto>,
    /// The template.
    pub template: TemplateDto,
    /// Template parameters: a JSON object. `display_name` defaults to the
    /// address's local part and `app_url` to Kiln's public URL; `email` is
    /// always the recipient's.
    #[oai(nullable)]
    pub params: Option<std::collections::BTreeMap<String, serde_json::Value>>,
}

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum NotificationStatus {
    /// Waiting for a worker.
    Queued,
    /// An attempt is under way.
    Sending,
    /// The provider accepted it (`provider_message_id`).
    Sent,
    /// Written to the outbox or log instead of sent (no SMTP or FCM configured).
    Recorded,
    /// The last attempt failed; another is scheduled.
    Retrying,
    /// Failed permanently (a refused address, an unregistered device).
    Failed,
    /// Every attempt failed.
    Dead,
    /// Nothing to send (no active device, the device or recipient is gone).
    Skipped,
    /// An attempt was cut off while it may have been sending, and delivery is
    /// at-most-once (`notifications.delivery`): it may or may not have arrived,
    /// and is not sent again.
    Unknown,
}

impl From<family::NotificationStatus> for NotificationStatus {
    fn from(s: family::NotificationStatus) -> Self {
        match s {
            family::NotificationStatus::Queued => NotificationStatus::Queued,
            family::NotificationStatus::Sending => NotificationStatus::Sending,
            family::NotificationStatus::Sent => NotificationStatus::Sent,
            family::NotificationStatus::Recorded => NotificationStatus::Recorded,
            family::NotificationStatus::Retrying => NotificationStatus::Retrying,
            family::NotificationStatus::Failed => NotificationStatus::Failed,
            family::NotificationStatus::Dead => NotificationStatus::Dead,
            family::NotificationStatus::Skipped => NotificationStatus::Skipped,
            family::NotificationStatus::Unknown => NotificationStatus::Unknown,
        }
    }
}

/// One delivery of a notification.
#[derive(Debug, Clone, Object)]
pub struct NotificationOut {
    /// Delivery id (UUIDv7).
    pub id: Uuid,
    /// The recipient.
    pub user_id: Uuid,
    /// `email` or `push`.
    pub channel: String,
    /// The template.
    pub template: String,
    /// The device, for a push.
    #[oai(nullable)]
    pub device_id: Option<Uuid>,
    /// The job sending it (`GET /v1/jobs/{id}`), absent when skipped at once.
    #[oai(nullable)]
    pub job_id: Option<Uuid>,
    /// Where it is.
    pub status: NotificationStatus,
    /// Attempts so far.
    pub attempts: i32,
    /// The SMTP Message-ID or FCM message name.
    #[oai(nullable)]
    pub provider_message_id: Option<String>,
    /// The last failure, or why it was skipped.
    #[oai(nullable)]
    pub error: Option<String>,
    /// When it was queued.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When it last changed.
    pub updated_at: chrono::DateTime<chrono::Utc>,
    /// When the provider accepted it.
    #[oai(nullable)]
    pub sent_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<NotificationRow> for NotificationOut {
    fn from(n: NotificationRow) -> Self {
        NotificationOut {
            id: n.id,
            user_id: n.user_id,
            channel: n.channel,
            template: n.template,
            device_id: n.device_id,
            job_id: n.job_id,
            status: n.status.into(),
            attempts: n.attempts,
            provider_message_id: n.provider_message_id,
            error: n.error,
            created_at: n.created_at,
            updated_at: n.updated_at,
            sent_at: n.sent_at,
        }
    }
}

/// The deliveries a request made.
#[derive(Debug, Clone, Object)]
pub struct NotificationsQueued {
    /// One per email and per device.
    pub items: Vec<NotificationOut>,
}

/// A queued notification.
#[derive(Debug, ApiResponse)]
pub enum NotificationQueued {
    /// Queued: workers send it.
    #[oai(status = 202)]
    Accepted(Json<NotificationsQueued>),
    /// The idempotency key was used before: the earlier request's deliveries.
    #[oai(status = 200)]
    Existing(Json<NotificationsQueued>),
}

/// A page of the notification history.
#[derive(Debug, Clone, Object)]
pub struct NotificationPage {
    /// Newest first.
    pub items: Vec<NotificationOut>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

impl From<NotifyError> for ApiError {
    fn from(e: NotifyError) -> Self {
        match e {
            NotifyError::UnknownUser => {
                ApiError::unprocessable("unknown_user", "no user has this user_id")
            }
            NotifyError::Template(e) => ApiError::unprocessable("invalid_params", e.to_string()),
            NotifyError::Invalid(m) => ApiError::unprocessable("validation_failed", m),
            NotifyError::Ledger(e) => e.into(),
        }
    }
}

/// Notification endpoints.
pub struct NotificationsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Notifications")]
impl NotificationsApi {
    /// Send a notification
    ///
    /// Operators and admins (scope `notifications:write`). Queues one email
    /// and/or one push per active device of the user, rendered from the
    /// template; answers 202 with the deliveries and their job ids. The
    /// template is rendered once now, so missing parameters are a 422 here,
    /// not a failed job later. With an `Idempotency-Key` header, repeating the
    /// request returns the first request's deliveries (200) and sends nothing
    /// again.
    #[oai(
        path = "/notifications",
        method = "post",
        operation_id = "notifications_send"
    )]
    async fn send(
        &self,
        auth: Auth,
        app: Data<&AppContext>,
        /// Makes the request idempotent for this caller and recipient (1–200 characters).
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 200))]
        idempotency_key: Header<Option<String>>,
        body: Json<NotificationIn>,
    ) -> Result<NotificationQueued, ApiError> {
        let principal = auth.principal();
        principal.require_scope(Scope::NotificationsWrite)?;
        let req = NotificationRequest {
            user_id: body.0.user_id,
            channels: body.0.channels.iter().map(|c| (*c).into()).collect(),
            template: body.0.template.as_str().to_owned(),
            params: body.0.params.unwrap_or_default().into_iter().collect(),
            requested_by: principal.subject.clone(),
            idempotency_key: idempotency_key.0,
        };
        let queued = family::enqueue::enqueue(&app, &req).await?;
        let out = Json(NotificationsQueued {
            items: queued.deliveries.into_iter().map(Into::into).collect(),
        });
        Ok(if queued.repeated {
            NotificationQueued::Existing(out)
        } else {
            NotificationQueued::Accepted(out)
        })
    }

    /// List the caller's notifications
    ///
    /// Any user, their own history (bearer token), newest first.
    #[oai(
        path = "/notifications",
        method = "get",
        operation_id = "notifications_list"
    )]
    async fn list(
        &self,
        auth: BearerAuth,
        app: Data<&AppContext>,
        /// The `next_cursor` of the previous page (opaque).
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<NotificationPage>, ApiError> {
        let user = auth.0.user_id()?;
        let before = parse_cursor(cursor.0.as_deref())?;
        let limit = limit.0.unwrap_or(50);
        let rows = notifications::list(&app.db, user, before, i64::from(limit) + 1).await?;
        let (rows, next_cursor) = page(rows, limit, |r| r.id);
        Ok(Json(NotificationPage {
            items: rows.into_iter().map(Into::into).collect(),
            next_cursor,
        }))
    }
}
