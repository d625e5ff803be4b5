pub mod api_keys;
pub mod auth;
pub mod devices;
pub mod health;
pub mod jobs;
pub mod media;
pub mod notifications;
pub mod queues;
pub mod users;
pub mod webhooks;

use uuid::Uuid;

use crate::error::ApiError;

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
