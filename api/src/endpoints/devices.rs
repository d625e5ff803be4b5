//! `/v1/devices`: the caller's push devices (FCM registration tokens).

use chrono::Utc;
use poem::web::Data;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, param::Path, payload::Json};
use uuid::Uuid;

use kiln_jobs::{AppContext, notifications::devices};

use crate::{ApiTags, auth::BearerAuth, endpoints::auth::NoContent, error::ApiError};

/// Devices one user may register; deleting old ones makes room.
const MAX_DEVICES_PER_USER: i64 = 50;

/// The platform of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum Platform {
    /// Android app.
    Android,
    /// iOS app (through FCM's APNs bridge).
    Ios,
    /// Web push (FCM JavaScript SDK).
    Web,
}

impl From<Platform> for devices::Platform {
    fn from(p: Platform) -> Self {
        match p {
            Platform::Android => devices::Platform::Android,
            Platform::Ios => devices::Platform::Ios,
            Platform::Web => devices::Platform::Web,
        }
    }
}

impl From<devices::Platform> for Platform {
    fn from(p: devices::Platform) -> Self {
        match p {
            devices::Platform::Android => Platform::Android,
            devices::Platform::Ios => Platform::Ios,
            devices::Platform::Web => Platform::Web,
        }
    }
}

/// A device to register.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct DeviceIn {
    /// The FCM registration token the app got from the Firebase SDK.
    #[oai(
        validator(min_length = 16, max_length = 4096),
        deserialize_with = "crate::endpoints::text"
    )]
    pub token: String,
    /// The app's platform.
    pub platform: Platform,
    /// The app's version, for support (at most 64 characters).
    #[oai(
        nullable,
        validator(max_length = 64),
        deserialize_with = "crate::endpoints::optional_text"
    )]
    pub app_version: Option<String>,
}

/// A registered device. The token itself is never shown again; `token_hint`
/// is its last characters.
#[derive(Debug, Clone, Object)]
pub struct DeviceOut {
    /// Device id.
    pub id: Uuid,
    /// The last 8 characters of the token.
    pub token_hint: String,
    /// The app's platform.
    pub platform: Platform,
    /// The app's version.
    #[oai(nullable)]
    pub app_version: Option<String>,
    /// False once FCM said the token is no longer registered; pushes skip it.
    /// Registering the token again reactivates it.
    pub active: bool,
    /// Why it was deactivated.
    #[oai(nullable)]
    pub last_error: Option<String>,
    /// When it was first registered.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When it was last registered or changed.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<devices::DeviceRow> for DeviceOut {
    fn from(d: devices::DeviceRow) -> Self {
        let n = d.token.chars().count();
        DeviceOut {
            id: d.id,
            token_hint: d.token.chars().skip(n.saturating_sub(8)).collect(),
            platform: d.platform.into(),
            app_version: d.app_version,
            active: d.active,
            last_error: d.last_error,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

/// The caller's devices.
#[derive(Debug, Clone, Object)]
pub struct DeviceList {
    /// Newest first, inactive ones included.
    pub items: Vec<DeviceOut>,
}

/// A registration.
#[derive(Debug, ApiResponse)]
pub enum DeviceRegistered {
    /// A new device.
    #[oai(status = 201)]
    Created(Json<DeviceOut>),
    /// The token was registered before: that device, now the caller's, active
    /// and with this platform and version.
    #[oai(status = 200)]
    Updated(Json<DeviceOut>),
}

/// Device endpoints. Bearer token only: devices belong to a signed-in app.
pub struct DevicesApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Devices")]
impl DevicesApi {
    /// Register a push device
    ///
    /// Any user, for themselves (bearer token). Registering a token again
    /// updates that device (200) — after a reinstall, an app update or a
    /// sign-in by another user on the same install. At most 50 devices.
    #[oai(path = "/devices", method = "post", operation_id = "devices_register")]
    async fn register(
        &self,
        auth: BearerAuth,
        app: Data<&AppContext>,
        body: Json<DeviceIn>,
    ) -> Result<DeviceRegistered, ApiError> {
        let user = auth.0.user_id()?;
        let token = body.token.trim();
        if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ApiError::unprocessable(
                "invalid_token",
                "the device token must not contain whitespace",
            ));
        }
        let Some((row, created)) = devices::upsert_capped(
            &app.db,
            &devices::Register {
                id: Uuid::now_v7(),
                user_id: user,
                token,
                platform: body.platform.into(),
                app_version: body.app_version.as_deref(),
                now: Utc::now(),
            },
            MAX_DEVICES_PER_USER,
        )
        .await?
        else {
            return Err(ApiError::conflict_code(
                "too_many_devices",
                format!("at most {MAX_DEVICES_PER_USER} devices; delete old ones first"),
            ));
        };
        Ok(if created {
            DeviceRegistered::Created(Json(row.into()))
        } else {
            DeviceRegistered::Updated(Json(row.into()))
        })
    }

    /// List the caller's devices
    ///
    /// Any user (bearer token).
    #[oai(path = "/devices", method = "get", operation_id = "devices_list")]
    async fn list(
        &self,
        auth: BearerAuth,
        app: Data<&AppContext>,
    ) -> Result<Json<DeviceList>, ApiError> {
        let user = auth.0.user_id()?;
        let items = devices::list(&app.db, user, true)
            .await?
            .into_iter()
            .map(Into::into)
            .collect();
        Ok(Json(DeviceList { items }))
    }

    /// Remove a device
    ///
    /// Any user, their own devices only (bearer token); another user's device
    /// is 404. Apps call this at sign-out.
    #[oai(
        path = "/devices/:id",
        method = "delete",
        operation_id = "devices_delete"
    )]
    async fn delete(
        &self,
        auth: BearerAuth,
        app: Data<&AppContext>,
        id: Path<Uuid>,
    ) -> Result<NoContent, ApiError> {
        let user = auth.0.user_id()?;
        if devices::delete(&app.db, id.0, user).await? {
            Ok(NoContent::Done)
        } else {
            Err(ApiError::not_found("device"))
        }
    }
}
