//! The one error shape every failure answers with: `{code, message, request_id, details?}`.

use poem::{
    Endpoint, IntoResponse, Middleware, Request, Response,
    http::{StatusCode, header},
};
use poem_openapi::{ApiResponse, Object, payload::Json};

use kiln_jobs::{identity::IdentityError, ledger::LedgerError};

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The request id of the request being served (empty outside a request).
pub fn current_request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

/// The body of every error response.
#[derive(Debug, Clone, Object)]
pub struct ErrorBody {
    /// Stable snake_case code, part of the API (e.g. `not_found`, `payload_too_large`).
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// The request id (also in the `x-request-id` header and the server logs).
    pub request_id: String,
    /// Structured details, e.g. per-dependency readiness.
    #[oai(skip_serializing_if_is_none)]
    pub details: Option<serde_json::Value>,
}

impl ErrorBody {
    fn new(code: &str, message: impl Into<String>) -> Json<ErrorBody> {
        Json(ErrorBody {
            code: code.to_owned(),
            message: message.into(),
            request_id: current_request_id(),
            details: None,
        })
    }
}

/// Every error an operation can answer with.
#[derive(Debug, ApiResponse)]
pub enum ApiError {
    /// The request is malformed.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Missing or invalid credentials.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// Authenticated but not allowed.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// No such resource (or not yours).
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The resource's state does not allow this.
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The body is larger than allowed.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The content is not of an accepted type.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// Well-formed but invalid input.
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    /// Too many requests; retry after `Retry-After` seconds.
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    /// A server fault; details are in the logs under the request id.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// A dependency (database, queue, storage) is unavailable, or the server
    /// is too busy (`busy`); retry later, after `Retry-After` seconds when given.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Retry-After")] Option<u64>),
}

/// The errors the middleware in front of every route can answer before an
/// operation runs (see [`crate::app`]): an oversized body (413), a NUL in the
/// URL or body (422), the rate limit (429), a fault (500). Operations that
/// answer no error of their own, the health checks, document these; every
/// other operation documents them through [`ApiError`].
#[derive(Debug, ApiResponse)]
pub enum EdgeError {
    /// The body is larger than allowed.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The URL or body holds text that cannot be accepted (a NUL character).
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    /// Too many requests; retry after `Retry-After` seconds.
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    /// A server fault; details are in the logs under the request id.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}

impl ApiError {
    /// 400 with `code`.
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        ApiError::BadRequest(ErrorBody::new(code, message))
    }
    /// 401.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::Unauthorized(ErrorBody::new("unauthorized", message))
    }
    /// 401 with `code`.
    pub fn unauthorized_code(code: &str, message: impl Into<String>) -> Self {
        ApiError::Unauthorized(ErrorBody::new(code, message))
    }
    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::Forbidden(ErrorBody::new("forbidden", message))
    }
    /// 403 with `code`.
    pub fn forbidden_code(code: &str, message: impl Into<String>) -> Self {
        ApiError::Forbidden(ErrorBody::new(code, message))
    }
    /// 409 with `code`.
    pub fn conflict_code(code: &str, message: impl Into<String>) -> Self {
        ApiError::Conflict(ErrorBody::new(code, message))
    }
    /// 404.
    pub fn not_found(what: &str) -> Self {
        ApiError::NotFound(ErrorBody::new("not_found", format!("{what} not found")))
    }
    /// 404 with `code`.
    pub fn not_found_code(code: &str, message: impl Into<String>) -> Self {
        ApiError::NotFound(ErrorBody::new(code, message))
    }
    /// 409.
    pub fn conflict(message: impl Into<String>) -> Self {
        ApiError::Conflict(ErrorBody::new("conflict", message))
    }
    /// 413.
    pub fn too_large(limit: u64) -> Self {
        ApiError::PayloadTooLarge(ErrorBody::new(
            "payload_too_large",
            format!("the body exceeds the limit of {limit} bytes"),
        ))
    }
    /// 415.
    pub fn unsupported(message: impl Into<String>) -> Self {
        ApiError::UnsupportedMediaType(ErrorBody::new("unsupported_media_type", message))
    }
    /// 422.
    pub fn unprocessable(code: &str, message: impl Into<String>) -> Self {
        ApiError::Unprocessable(ErrorBody::new(code, message))
    }
    /// 429; `retry_after` is rounded up to whole seconds, at least 1.
    pub fn too_many_requests(retry_after: std::time::Duration) -> Self {
        let secs = whole_secs(retry_after);
        ApiError::TooManyRequests(
            ErrorBody::new(
                "too_many_requests",
                format!("rate limit exceeded; retry in {secs} s"),
            ),
            secs,
        )
    }
    /// 503 for a failed dependency; the cause is logged, not sent.
    pub fn unavailable(what: &str, cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(request_id = %current_request_id(), error = %cause, "{what} unavailable");
        ApiError::Unavailable(
            ErrorBody::new(
                "service_unavailable",
                format!("{what} is unavailable; retry later"),
            ),
            None,
        )
    }
    /// 503 `degraded`: a readiness check found a dependency down; `details`
    /// holds every check.
    pub fn degraded(message: impl Into<String>, details: serde_json::Value) -> Self {
        Self::not_ready("degraded", message, details)
    }
    /// 503 with `code` and `details`: a health check that does not pass yet.
    pub fn not_ready(code: &str, message: impl Into<String>, details: serde_json::Value) -> Self {
        let mut body = ErrorBody::new(code, message);
        body.0.details = Some(details);
        ApiError::Unavailable(body, None)
    }
    /// 503 `busy`: the server sheds load (e.g. the password-hashing queue is
    /// full); `retry_after` is rounded up to whole seconds, at least 1.
    pub fn busy(message: impl Into<String>, retry_after: std::time::Duration) -> Self {
        ApiError::Unavailable(
            ErrorBody::new("busy", message),
            Some(whole_secs(retry_after)),
        )
    }
    /// 500; the cause is logged, not sent.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(request_id = %current_request_id(), error = %cause, "internal error");
        ApiError::Internal(ErrorBody::new("internal", "internal server error"))
    }
}

/// A wait in whole seconds for `Retry-After`, rounded up, at least 1.
fn whole_secs(d: std::time::Duration) -> u64 {
    d.as_secs()
        .saturating_add(u64::from(d.subsec_nanos() > 0))
        .max(1)
}

/// PostgreSQL's SQLSTATEs for text it cannot store: `22021`
/// (character_not_in_repertoire: "invalid byte sequence", a NUL in TEXT) and
/// `22P05` (untranslatable_character: `\u0000` in JSONB).
const UNSTORABLE_TEXT: [&str; 2] = ["22021", "22P05"];

impl From<kiln_jobs::ledger::SqlxError> for ApiError {
    /// A dependency failure (503), except text the database cannot store: that
    /// came from the client, so 422. [`crate::nul_input`] refuses NULs before
    /// they get this far; this is the backstop.
    fn from(e: kiln_jobs::ledger::SqlxError) -> Self {
        let code = e.as_database_error().and_then(|d| d.code());
        if code.is_some_and(|c| UNSTORABLE_TEXT.contains(&c.as_ref())) {
            tracing::warn!(request_id = %current_request_id(), error = %e, "unstorable text in input");
            return ApiError::unprocessable(
                "invalid_input",
                "the input contains text that cannot be stored (such as a NUL character)",
            );
        }
        ApiError::unavailable("database", &e)
    }
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::NotFound => ApiError::not_found("job"),
            LedgerError::Conflict(m) => ApiError::conflict(m),
            LedgerError::Db(e) => e.into(),
            LedgerError::Queue(e) => ApiError::unavailable("queue", &e),
            e @ LedgerError::Corrupt(_) => ApiError::internal(&e),
        }
    }
}

impl From<IdentityError> for ApiError {
    fn from(e: IdentityError) -> Self {
        match e {
            IdentityError::InvalidCredentials => {
                ApiError::unauthorized_code("invalid_credentials", e.to_string())
            }
            IdentityError::InvalidRefreshToken => {
                ApiError::unauthorized_code("invalid_refresh_token", e.to_string())
            }
            IdentityError::EmailTaken => ApiError::conflict_code("email_taken", e.to_string()),
            IdentityError::RegistrationClosed => {
                ApiError::forbidden_code("registration_closed", e.to_string())
            }
            IdentityError::Invalid(m) => ApiError::unprocessable("validation_failed", m),
            IdentityError::Conflict(m) => ApiError::conflict(m),
            IdentityError::NotFound => ApiError::not_found("resource"),
            IdentityError::Busy { retry_after } => ApiError::busy(e.to_string(), retry_after),
            IdentityError::Db(e) => e.into(),
            e @ IdentityError::Hash(_) => ApiError::internal(&e),
        }
    }
}

/// Gives each request a task-local request id and turns every error poem or
/// poem-openapi raises itself (bad path parameter, failed auth, unknown route,
/// wrong method, malformed body) into the one error shape.
pub struct ErrorShape;

impl<E: Endpoint> Middleware<E> for ErrorShape {
    type Output = ErrorShapeEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        ErrorShapeEndpoint(ep)
    }
}

/// See [`ErrorShape`].
pub struct ErrorShapeEndpoint<E>(E);

impl<E: Endpoint> Endpoint for ErrorShapeEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let id = req
            .data::<poem::middleware::ReqId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        let path = req.uri().path().to_owned();
        REQUEST_ID
            .scope(id, async move {
                match self.0.call(req).await {
                    Ok(r) => Ok(r.into_response()),
                    Err(err) => Ok(shape(err, &path)),
                }
            })
            .await
    }
}

/// Our own `ApiError`s arrive as errors wrapping a finished JSON response:
/// those pass through. Anything else is rewritten into the error shape; a 405
/// gets the `Allow` header of the requested `path`.
fn shape(err: poem::Error, path: &str) -> Response {
    let status = err.status();
    let text = err.to_string();
    let mut resp = err.into_response();
    let is_json = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let code = match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::LENGTH_REQUIRED => "length_required",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
        StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
        s if s.is_server_error() => "internal",
        _ => "error",
    };
    let message = if status.is_server_error() {
        tracing::error!(request_id = %current_request_id(), error = %text, "unhandled error");
        "internal server error".to_owned()
    } else {
        text
    };
    let body = ErrorBody::new(code, message);
    let mut shaped = poem_openapi::payload::Json(body.0).into_response();
    shaped.set_status(status);
    // Keep what poem-openapi attached (the operation id labels metrics) and the
    // headers that explain the error (`Allow`, `Retry-After`, …).
    *shaped.extensions_mut() = std::mem::take(resp.extensions_mut());
    for (name, value) in resp.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            shaped.headers_mut().append(name, value.clone());
        }
    }
    if status == StatusCode::METHOD_NOT_ALLOWED
        && !shaped.headers().contains_key(header::ALLOW)
        && let Some(allow) = crate::allow::allowed_methods(path)
    {
        shaped
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static(allow));
    }
    shaped
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use poem::{EndpointExt, Route, handler, test::TestClient};

    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        for (wait, secs) in [
            (Duration::ZERO, 1),
            (Duration::from_millis(1), 1),
            (Duration::from_millis(1000), 1),
            (Duration::from_millis(1001), 2),
            (Duration::from_secs(59), 59),
        ] {
            let ApiError::TooManyRequests(body, header) = ApiError::too_many_requests(wait) else {
                panic!("not a 429");
            };
            assert_eq!(header, secs, "{wait:?}");
            assert_eq!(body.0.code, "too_many_requests");
        }
    }

    #[handler]
    fn limited() -> poem::Result<()> {
        Err(ApiError::too_many_requests(Duration::from_millis(2500)).into())
    }

    #[handler]
    fn plain() -> poem::Result<()> {
        Err(poem::Error::from_response(
            Response::builder()
                .status(StatusCode::TOO_MANY_REQUESTS)
                .header("Retry-After", "7")
                .body("slow down"),
        ))
    }

    #[tokio::test]
    async fn the_error_shape_keeps_retry_after() {
        let cli = TestClient::new(
            Route::new()
                .at("/limited", limited)
                .at("/plain", plain)
                .with(ErrorShape),
        );
        for (path, secs) in [("/limited", "3"), ("/plain", "7")] {
            let resp = cli.get(path).send().await;
            resp.assert_status(StatusCode::TOO_MANY_REQUESTS);
            resp.assert_header("retry-after", secs);
            resp.assert_content_type("application/json; charset=utf-8");
            let json = resp.json().await;
            json.value()
                .object()
                .get("code")
                .assert_string("too_many_requests");
        }
    }
}
