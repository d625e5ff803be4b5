//! Incoming `x-request-id` values are believed only when they are safe to log
//! and echo: 1–64 characters of `[A-Za-z0-9._:-]`. Anything else is dropped
//! before poem's `RequestId` middleware, which then generates a fresh id.

use poem::{Endpoint, Middleware, Request};

const HEADER: &str = "x-request-id";

/// Removes an unacceptable `x-request-id` header; wrap it around `RequestId`.
pub struct SanitizeRequestId;

impl<E: Endpoint> Middleware<E> for SanitizeRequestId {
    type Output = SanitizeRequestIdEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        SanitizeRequestIdEndpoint(ep)
    }
}

/// See [`SanitizeRequestId`].
pub struct SanitizeRequestIdEndpoint<E>(E);

impl<E: Endpoint> Endpoint for SanitizeRequestIdEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, mut req: Request) -> poem::Result<Self::Output> {
        let values = req.headers().get_all(HEADER);
        let mut iter = values.iter();
        let keep = match (iter.next(), iter.next()) {
            (Some(v), None) => is_acceptable(v.as_bytes()),
            _ => false,
        };
        if !keep {
            req.headers_mut().remove(HEADER);
        }
        self.0.call(req).await
    }
}

/// 1–64 characters of `[A-Za-z0-9._:-]`.
pub fn is_acceptable(id: &[u8]) -> bool {
    (1..=64).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::is_acceptable;

    #[test]
    fn only_short_plain_ids_are_acceptable() {
        for good in ["a", "abc-123", "req_1.2:3", &"x".repeat(64)] {
            assert!(is_acceptable(good.as_bytes()), "{good}");
        }
        for bad in [
            "",
            &"x".repeat(65),
            "has space",
            "new\nline",
            "quote\"",
            "<script>",
            "é",
        ] {
            assert!(!is_acceptable(bad.as_bytes()), "{bad:?}");
        }
    }
}
