//! Walks the published document and holds it to the rules generators and
//! the contract fuzzer rely on.

use std::collections::BTreeSet;

use serde_json::Value;

use super::*;

fn operations() -> Vec<(String, String, &'static Value)> {
    let paths = document()["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("path item")
                .iter()
                .map(move |(method, op)| (method.to_uppercase(), path.clone(), op))
        })
        .collect()
}

fn schemas() -> &'static Map<String, Value> {
    document()["components"]["schemas"]
        .as_object()
        .expect("schemas")
}

fn walk<'v>(value: &'v Value, found: &mut Vec<&'v Map<String, Value>>) {
    match value {
        Value::Object(map) => {
            found.push(map);
            map.values().for_each(|v| walk(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| walk(v, found)),
        _ => {}
    }
}

#[test]
fn no_schema_is_wrapped_in_all_of() {
    let mut maps = Vec::new();
    walk(document(), &mut maps);
    let wrapped: Vec<_> = maps.iter().filter(|m| m.contains_key("allOf")).collect();
    assert!(
        wrapped.is_empty(),
        "allOf left in the document: {wrapped:?}"
    );
    let described_refs = maps
        .iter()
        .filter(|m| m.contains_key("$ref") && m.contains_key("description"))
        .count();
    assert!(
        described_refs > 0,
        "the described references kept their descriptions"
    );
}

#[test]
fn the_unwrapping_keeps_real_compositions() {
    let mut doc = serde_json::json!({
        "a": {"description": "d", "allOf": [{"$ref": "#/x"}, {"description": "d"}]},
        "b": {"allOf": [{"$ref": "#/x"}, {"type": "object", "properties": {}}]},
        "c": {"allOf": [{"$ref": "#/x"}, {"$ref": "#/y"}]},
    });
    unwrap_described_refs(&mut doc);
    assert_eq!(
        doc["a"],
        serde_json::json!({"$ref": "#/x", "description": "d"})
    );
    assert!(doc["b"].get("allOf").is_some());
    assert!(doc["c"].get("allOf").is_some());
}

#[test]
fn every_json_request_body_is_closed() {
    let mut seen = 0;
    for (method, path, op) in operations() {
        let Some(content) = op
            .pointer("/requestBody/content")
            .and_then(Value::as_object)
        else {
            continue;
        };
        for (media_type, body) in content {
            if !media_type.starts_with("application/json") {
                continue;
            }
            let r = body["schema"]["$ref"]
                .as_str()
                .expect("a named body schema");
            let name = r.trim_start_matches("#/components/schemas/");
            assert_eq!(
                schemas()[name]["additionalProperties"],
                Value::Bool(false),
                "{method} {path}: {name}"
            );
            seen += 1;
        }
    }
    assert!(seen >= 9, "{seen} JSON bodies");
}

/// Optional fields that are left out when empty instead of sent as `null`
/// (`skip_serializing_if_is_none`). An optional answer field whose schema is
/// a `$ref` must be one of them: OpenAPI 3.0 ignores `nullable` beside a
/// `$ref`, so generated clients (openapi-python-client) cannot read a `null`
/// there, while an absent field is plainly unset.
const OMITTED_WHEN_EMPTY: [&str; 7] = [
    "ErrorBody.details",
    "BackupOut.verify_status",
    "ScheduleOut.last_backup",
    "MediaOut.hidden_reason",
    "ReportOut.action",
    "TargetSummary.media",
    "TargetSummary.user",
];

/// See [`OMITTED_WHEN_EMPTY`]: answers (schemas that are not closed request
/// bodies) never send `null` for a referenced schema.
#[test]
fn optional_references_in_answers_are_omitted_when_empty() {
    let mut checked = 0;
    for (name, schema) in schemas() {
        if schema["additionalProperties"] == Value::Bool(false) {
            continue; // a request body: `null` is read as absent
        }
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let Some(properties) = schema["properties"].as_object() else {
            continue;
        };
        for (field, property) in properties {
            if property.get("$ref").is_none() || required.contains(&field.as_str()) {
                continue;
            }
            assert!(
                OMITTED_WHEN_EMPTY.contains(&format!("{name}.{field}").as_str()),
                "{name}.{field}: an optional reference; say `skip_serializing_if_is_none` and list it"
            );
            checked += 1;
        }
    }
    assert!(checked >= 6, "{checked} optional references");
}

/// Every optional field may be `null`: the server sends `null` for an empty
/// optional response field, and reads a `null` in a request as absent.
#[test]
fn optional_fields_are_nullable() {
    let mut checked = 0;
    for (name, schema) in schemas() {
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let Some(properties) = schema["properties"].as_object() else {
            continue;
        };
        for (field, property) in properties {
            if required.contains(&field.as_str())
                || OMITTED_WHEN_EMPTY.contains(&format!("{name}.{field}").as_str())
            {
                continue;
            }
            assert_eq!(
                property["nullable"],
                Value::Bool(true),
                "{name}.{field} is optional, so it may be null: say `#[oai(nullable)]`"
            );
            checked += 1;
        }
    }
    assert!(checked > 20, "{checked} optional fields");
}

#[test]
fn schema_names_are_the_api_s_own() {
    for name in schemas().keys() {
        assert!(
            !name.ends_with("Dto"),
            "{name}: name the schema for the API, not the Rust type"
        );
    }
}

/// The statuses an operation must document, from what answers them:
/// the middleware in front of every route (413 body limit, 422 NUL input,
/// 429 rate limit, 500), authentication (401, 403), path parameters (404),
/// parameters and bodies (400; 415 for a body), and the dependencies every
/// `/v1` operation reads (503).
fn expected_statuses(path: &str, op: &Value) -> BTreeSet<&'static str> {
    let mut expected = BTreeSet::from(["413", "422", "429", "500"]);
    let params = op["parameters"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let body = op.get("requestBody").is_some();
    if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
        expected.extend(["401", "403"]);
    }
    if params.iter().any(|p| p["in"] == "path") {
        expected.insert("404");
    }
    if !params.is_empty() || body {
        expected.insert("400");
    }
    if body {
        expected.insert("415");
    }
    if path.starts_with("/v1/") || ["/health", "/health/ready", "/health/startup"].contains(&path) {
        expected.insert("503");
    }
    expected
}

#[test]
fn every_operation_documents_the_statuses_it_can_answer() {
    for (method, path, op) in operations() {
        let responses = op["responses"].as_object().expect("responses");
        for status in expected_statuses(&path, op) {
            assert!(
                responses.contains_key(status),
                "{method} {path} does not document {status}"
            );
        }
    }
}

#[test]
fn every_error_answer_carries_the_error_shape() {
    for (method, path, op) in operations() {
        for (status, response) in op["responses"].as_object().expect("responses") {
            if !(status.starts_with('4') || status.starts_with('5')) {
                continue;
            }
            let expected = "#/components/schemas/ErrorBody";
            let content = response["content"].as_object().expect("a body");
            assert!(!content.is_empty(), "{method} {path} {status}: no body");
            for (media_type, body) in content {
                assert!(
                    media_type.starts_with("application/json"),
                    "{method} {path} {status}"
                );
                assert_eq!(body["schema"]["$ref"], expected, "{method} {path} {status}");
            }
        }
    }
}

#[test]
fn every_operation_is_named_and_tagged() {
    let mut ids = BTreeSet::new();
    for (method, path, op) in operations() {
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path}: no operationId"));
        assert!(ids.insert(id.to_owned()), "{id} twice");
        assert!(
            op["tags"].as_array().is_some_and(|t| !t.is_empty()),
            "{method} {path}: no tag"
        );
        assert!(op["summary"].is_string(), "{method} {path}: no summary");
    }
}

#[test]
fn public_operations_say_so() {
    let public: Vec<String> = operations()
        .into_iter()
        .filter(|(_, _, op)| op["security"] == Value::Array(Vec::new()))
        .map(|(m, p, _)| format!("{m} {p}"))
        .collect();
    assert_eq!(
        public,
        [
            "GET /health",
            "GET /health/live",
            "GET /health/ready",
            "GET /health/startup",
            "POST /v1/auth/login",
            "POST /v1/auth/refresh",
            "POST /v1/auth/register",
        ]
    );
    for (method, path, op) in operations() {
        assert!(op["security"].is_array(), "{method} {path}");
    }
}

#[test]
fn enum_values_that_are_not_names_get_names() {
    let scope = &schemas()["Scope"];
    let values = scope["enum"].as_array().expect("values");
    let names = scope["x-enum-varnames"].as_array().expect("names");
    assert_eq!(values.len(), names.len());
    let pair = values.iter().zip(names).find(|(v, _)| *v == "media:read");
    assert_eq!(
        pair.map(|(_, n)| n.clone()),
        Some(Value::from("media_read"))
    );
    assert!(schemas()["JobStatus"].get("x-enum-varnames").is_none());
}

#[test]
fn header_names_are_lower_case() {
    let mut seen = 0;
    for (method, path, op) in operations() {
        for response in op["responses"].as_object().expect("responses").values() {
            for name in response["headers"]
                .as_object()
                .into_iter()
                .flat_map(|h| h.keys())
            {
                assert_eq!(name, &name.to_ascii_lowercase(), "{method} {path}");
                seen += 1;
            }
        }
    }
    assert!(seen > 0);
    assert!(document().get("servers").is_none());
}
