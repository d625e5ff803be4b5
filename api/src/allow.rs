//! The `Allow` header of a 405 answer (RFC 9110 §15.5.6 requires it): the
//! methods the document lists for the path, with `HEAD` wherever `GET` is
//! (poem answers `HEAD` with the `GET` handler, without the body).

use std::sync::LazyLock;

use serde_json::Value;

/// One path template of the document, split into segments.
struct Template {
    /// `None` for a `{parameter}` segment.
    segments: Vec<Option<String>>,
    /// The `Allow` value, e.g. `GET, HEAD, PATCH`.
    allow: String,
}

static TEMPLATES: LazyLock<Vec<Template>> =
    LazyLock::new(|| templates(crate::contract::document()));

/// The methods in the document, in the order `Allow` lists them.
const METHODS: [&str; 7] = ["get", "head", "post", "put", "patch", "delete", "options"];

fn templates(doc: &Value) -> Vec<Template> {
    let Some(Value::Object(paths)) = doc.get("paths") else {
        return Vec::new();
    };
    paths
        .iter()
        .map(|(path, item)| {
            let segments = path
                .trim_start_matches('/')
                .split('/')
                .map(|s| (!(s.starts_with('{') && s.ends_with('}'))).then(|| s.to_owned()))
                .collect();
            let has = |m: &str| item.get(m).is_some() || (m == "head" && item.get("get").is_some());
            let allow = METHODS
                .iter()
                .filter(|m| has(m))
                .map(|m| m.to_ascii_uppercase())
                .collect::<Vec<_>>()
                .join(", ");
            Template { segments, allow }
        })
        .collect()
}

/// The routes outside the document (see [`crate::app`]), all read-only.
const UNDOCUMENTED: [&str; 2] = [crate::OPENAPI_PATH, crate::DOCS_PATH];

/// The `Allow` value for a request path, from the template that matches it
/// with the most literal segments (as the router would pick it); `None` when
/// no route matches.
pub(crate) fn allowed_methods(path: &str) -> Option<&'static str> {
    best_match(&TEMPLATES, path).or_else(|| {
        UNDOCUMENTED
            .iter()
            .any(|r| {
                path == *r
                    || path
                        .strip_prefix(r)
                        .is_some_and(|rest| rest.starts_with('/'))
            })
            .then_some("GET, HEAD")
    })
}

fn best_match<'t>(templates: &'t [Template], path: &str) -> Option<&'t str> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    templates
        .iter()
        .filter(|t| {
            t.segments.len() == parts.len()
                && t.segments
                    .iter()
                    .zip(&parts)
                    .all(|(s, p)| s.as_deref().is_none_or(|lit| lit == *p) && !p.is_empty())
        })
        .max_by_key(|t| t.segments.iter().filter(|s| s.is_some()).count())
        .map(|t| t.allow.as_str())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn allow_lists_the_documented_methods_with_head_beside_get() {
        let doc = json!({"paths": {
            "/v1/media/{id}": {"get": {}, "delete": {}},
            "/v1/media/{id}/variants/{name}": {"get": {}},
            "/v1/jobs/{id}/cancel": {"post": {}},
            "/v1/users/{id}": {"get": {}, "patch": {}},
            "/v1/users/me": {"post": {}},
        }});
        let t = templates(&doc);
        assert_eq!(best_match(&t, "/v1/media/abc"), Some("GET, HEAD, DELETE"));
        assert_eq!(
            best_match(&t, "/v1/media/abc/variants/thumb.jpg"),
            Some("GET, HEAD")
        );
        assert_eq!(best_match(&t, "/v1/jobs/x/cancel"), Some("POST"));
        assert_eq!(
            best_match(&t, "/v1/users/me"),
            Some("POST"),
            "the literal path wins"
        );
        assert_eq!(best_match(&t, "/v1/users/42"), Some("GET, HEAD, PATCH"));
        assert_eq!(
            best_match(&t, "/v1/media/"),
            None,
            "an empty segment is no id"
        );
        assert_eq!(best_match(&t, "/v1/nothing"), None);
    }

    #[test]
    fn every_documented_path_has_an_allow_value() {
        let doc = crate::contract::document();
        let paths = doc["paths"].as_object().expect("paths");
        for path in paths.keys() {
            let concrete = path.replace('{', "x").replace('}', "");
            let allow = allowed_methods(&concrete).unwrap_or_else(|| panic!("{path}"));
            assert!(!allow.is_empty(), "{path}");
        }
    }
}
