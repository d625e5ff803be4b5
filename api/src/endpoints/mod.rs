pub mod api_keys;
pub mod auth;
pub mod backups;
pub mod devices;
pub mod health;
pub mod jobs;
pub mod media;
pub mod notifications;
pub mod queue_name;
pub mod queues;
pub mod reports;
pub mod users;
pub mod webhooks;

use kiln_jobs::storage::StorageError;
use uuid::Uuid;

use crate::error::ApiError;

/// The answer for a failed read of a stored object: 404 naming `what` when
/// the object is missing, 503 when object storage fails.
pub(crate) fn object_err(what: &'static str) -> impl Fn(StorageError) -> ApiError {
    move |e| match e {
        StorageError::NotFound(_) => ApiError::not_found(what),
        e => ApiError::unavailable("object storage", &e),
    }
}

/// The answer for a failed media upload or removal.
pub(crate) fn upload_err(e: kiln_jobs::media::upload::UploadError) -> ApiError {
    use kiln_jobs::media::upload::UploadError;
    match e {
        UploadError::Storage(e) => ApiError::unavailable("object storage", &e),
        UploadError::Ledger(e) => e.into(),
        e @ UploadError::KeyReused => ApiError::conflict(e.to_string()),
    }
}

/// Parses a `cursor` query parameter: the id the previous page ended at.
pub(crate) fn parse_cursor(cursor: Option<&str>) -> Result<Option<Uuid>, ApiError> {
    match cursor {
        None | Some("") => Ok(None),
        Some(c) => Uuid::parse_str(c)
            .map(Some)
            .map_err(|_| ApiError::bad_request("invalid_cursor", "cursor is not valid")),
    }
}

/// Cuts `rows` (fetched with `limit + 1`) to a page and returns the cursor of
/// the next page when there is one.
pub(crate) fn page<T>(
    mut rows: Vec<T>,
    limit: u32,
    id: impl Fn(&T) -> Uuid,
) -> (Vec<T>, Option<String>) {
    let limit = limit as usize;
    if rows.len() <= limit {
        return (rows, None);
    }
    rows.truncate(limit);
    let next = rows.last().map(|r| id(r).to_string());
    (rows, next)
}

/// A JSON request field that must be a string. poem-openapi's `String`
/// also takes a number or a boolean and turns it into text (`false` →
/// `"false"`), which the document does not allow; request objects read their
/// text fields through this instead (`#[oai(deserialize_with = …)]`), so a
/// wrong type is refused with 400 like any other.
pub(crate) fn text(value: Option<serde_json::Value>) -> poem_openapi::types::ParseResult<String> {
    match value {
        Some(serde_json::Value::String(s)) => Ok(s),
        other => Err(poem_openapi::types::ParseError::expected_type(
            other.unwrap_or_default(),
        )),
    }
}

/// [`text`] for an optional field: absent or `null` is `None`.
pub(crate) fn optional_text(
    value: Option<serde_json::Value>,
) -> poem_openapi::types::ParseResult<Option<String>> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(poem_openapi::types::ParseError::expected_type(other)),
    }
}

/// Text stored in the database read as one of the document's enums, by its
/// wire name (`"media:read"`, `"processing"`); `None` for a value this
/// version does not know.
pub(crate) fn stored_enum<T: poem_openapi::types::ParseFromJSON>(value: &str) -> Option<T> {
    T::parse_from_json(Some(serde_json::Value::String(value.to_owned()))).ok()
}

/// [`stored_enum`] for a value the answer cannot do without: an unknown one
/// is a corrupt row, a 500 naming `what` in the log.
pub(crate) fn stored_value<T: poem_openapi::types::ParseFromJSON>(
    what: &str,
    value: &str,
) -> Result<T, ApiError> {
    stored_enum(value)
        .ok_or_else(|| ApiError::internal(&format_args!("unknown stored {what} {value:?}")))
}

/// A stored space-separated list (API key scopes, webhook events) as enum
/// values; an unknown value (written by a newer version) is logged and left
/// out rather than failing the read.
pub(crate) fn stored_list<T: poem_openapi::types::ParseFromJSON>(what: &str, list: &str) -> Vec<T> {
    list.split_whitespace()
        .filter_map(|v| {
            let known = stored_enum(v);
            if known.is_none() {
                tracing::warn!(value = v, "unknown stored {what} left out of the answer");
            }
            known
        })
        .collect()
}
