//! The published OpenAPI document: poem-openapi's output, finished where
//! poem-openapi 5 cannot say what Kiln does.
//!
//! Every copy of the document comes from [`document`]: `GET /openapi.json`,
//! Swagger UI, `kiln openapi` and the checked-in `openapi/`. Each finishing
//! touch is a rule of the API rather than a patch of one schema:
//!
//! - **Described references.** poem-openapi wraps a field whose type is a
//!   component and whose doc comment describes it as
//!   `allOf: [{$ref}, {description}]`. Generators read that as a composition
//!   and refuse it for enums ("Cannot take allOf a non-object"). The field
//!   becomes the plain `$ref`, its description kept beside it.
//! - **Closed request bodies.** Every JSON request body is an object declared
//!   with `deny_unknown_fields`: a field the server does not know is refused
//!   (400) rather than ignored, so a typo never passes unnoticed. The
//!   document says so with `additionalProperties: false`; the contract
//!   fuzzer in CI sends unknown fields and holds the server to it.
//! - **Public operations say so.** An operation without credentials
//!   (register, login, refresh, the health checks) carries `security: []`
//!   instead of nothing, so a reader (and a linter) can tell "public" from
//!   "forgot to say".
//! - **Enum values that are not names** (`media:read`, `job.succeeded`) get
//!   `x-enum-varnames` (`media_read`, `job_succeeded`), which generators use
//!   for the member names instead of squashing the value (`MEDIAREAD`).
//! - **Header names in lower case**, as HTTP/2 sends them, instead of
//!   poem-openapi's upper case (`LOCATION`): generated clients key their
//!   header types by these names.
//! - **No empty `servers` list**: the document is served by the server it
//!   describes, so clients resolve paths against the URL they fetched it from.

use std::sync::LazyLock;

use serde_json::{Map, Value};

/// poem-openapi's own document as it prints it, before [`finish`].
static RAW_JSON: LazyLock<String> = LazyLock::new(|| crate::openapi_service().spec());

/// The finished document, built once.
static DOCUMENT: LazyLock<Value> =
    LazyLock::new(|| {
        finish(serde_json::from_str(&RAW_JSON).unwrap_or_else(|e| {
            unreachable!("poem-openapi printed a document that is not JSON: {e}")
        }))
    });

/// The finished document as pretty JSON, printed once.
static JSON: LazyLock<String> = LazyLock::new(|| {
    serde_json::to_string_pretty(document())
        .unwrap_or_else(|e| unreachable!("a JSON value always serialises: {e}"))
});

/// The published document.
pub fn document() -> &'static Value {
    &DOCUMENT
}

/// The published document as JSON text.
pub(crate) fn json() -> &'static str {
    &JSON
}

/// poem-openapi's own document as JSON text (what its Swagger UI page embeds).
pub(crate) fn raw_json() -> &'static str {
    &RAW_JSON
}

/// Applies the finishing touches described in the module docs.
fn finish(mut doc: Value) -> Value {
    unwrap_described_refs(&mut doc);
    close_request_bodies(&mut doc);
    mark_public_operations(&mut doc);
    name_enum_values(&mut doc);
    lower_case_headers(&mut doc);
    if doc
        .get("servers")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
        && let Some(map) = doc.as_object_mut()
    {
        map.remove("servers");
    }
    doc
}

/// The HTTP methods an OpenAPI path item may hold.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Every operation of the document.
fn operations_mut(doc: &mut Value) -> impl Iterator<Item = &mut Map<String, Value>> {
    doc.get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| {
            item.iter_mut()
                .filter(|(method, _)| METHODS.contains(&method.as_str()))
                .filter_map(|(_, op)| op.as_object_mut())
        })
}

/// Gives an operation without `security` an explicit empty list.
fn mark_public_operations(doc: &mut Value) {
    for op in operations_mut(doc) {
        op.entry("security")
            .or_insert_with(|| Value::Array(Vec::new()));
    }
}

/// Adds `x-enum-varnames` to string enums with a value that is not an
/// identifier: each value with its other characters turned into `_`.
fn name_enum_values(doc: &mut Value) {
    let Some(Value::Object(schemas)) = doc.pointer_mut("/components/schemas") else {
        return;
    };
    for schema in schemas.values_mut().filter_map(Value::as_object_mut) {
        let Some(Value::Array(values)) = schema.get("enum") else {
            continue;
        };
        let values: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
        let is_name = |v: &str| v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if values.iter().all(|v| is_name(v)) {
            continue;
        }
        let names = values
            .iter()
            .map(|v| {
                Value::String(
                    v.chars()
                        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                        .collect(),
                )
            })
            .collect();
        schema.insert("x-enum-varnames".to_owned(), Value::Array(names));
    }
}

/// Lower-cases the names of response headers.
fn lower_case_headers(doc: &mut Value) {
    for op in operations_mut(doc) {
        let Some(Value::Object(responses)) = op.get_mut("responses") else {
            continue;
        };
        for response in responses.values_mut() {
            if let Some(Value::Object(headers)) = response.get_mut("headers") {
                *headers = std::mem::take(headers)
                    .into_iter()
                    .map(|(name, header)| (name.to_ascii_lowercase(), header))
                    .collect();
            }
        }
    }
}

/// Keys that only annotate a schema: a `$ref` may carry them beside it.
const ANNOTATIONS: [&str; 5] = [
    "description",
    "deprecated",
    "nullable",
    "readOnly",
    "writeOnly",
];

/// Turns `{allOf: [{$ref: R}, {annotations}], annotations}` into
/// `{$ref: R, annotations}`, everywhere in the document.
fn unwrap_described_refs(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(reference) = described_ref(map) {
                map.remove("allOf");
                map.insert("$ref".to_owned(), Value::String(reference));
            }
            map.values_mut().for_each(unwrap_described_refs);
        }
        Value::Array(items) => items.iter_mut().for_each(unwrap_described_refs),
        _ => {}
    }
}

/// The reference of a schema that is only an annotated `$ref` wrapped in
/// `allOf`; `None` for any other schema (a real composition stays as it is).
fn described_ref(map: &Map<String, Value>) -> Option<String> {
    let Some(Value::Array(parts)) = map.get("allOf") else {
        return None;
    };
    let [Value::Object(first), rest @ ..] = parts.as_slice() else {
        return None;
    };
    let reference = match (first.len(), first.get("$ref")) {
        (1, Some(Value::String(r))) => r.clone(),
        _ => return None,
    };
    let annotation_only =
        |m: &Map<String, Value>| m.keys().all(|k| ANNOTATIONS.contains(&k.as_str()));
    let parts_ok = rest
        .iter()
        .all(|p| p.as_object().is_some_and(annotation_only));
    let outer_ok = map
        .keys()
        .all(|k| k == "allOf" || ANNOTATIONS.contains(&k.as_str()));
    (parts_ok && outer_ok).then_some(reference)
}

/// Marks the schema of every JSON request body `additionalProperties: false`.
fn close_request_bodies(doc: &mut Value) {
    let mut closed = Vec::new();
    if let Some(Value::Object(paths)) = doc.get("paths") {
        for operation in paths
            .values()
            .filter_map(Value::as_object)
            .flat_map(|p| p.values())
        {
            let Some(Value::Object(content)) = operation.pointer("/requestBody/content") else {
                continue;
            };
            for (media_type, body) in content {
                if !media_type.starts_with("application/json") {
                    continue;
                }
                if let Some(Value::String(r)) = body.pointer("/schema/$ref")
                    && let Some(name) = r.strip_prefix("#/components/schemas/")
                {
                    closed.push(name.to_owned());
                }
            }
        }
    }
    let Some(Value::Object(schemas)) = doc.pointer_mut("/components/schemas") else {
        return;
    };
    for name in closed {
        if let Some(Value::Object(schema)) = schemas.get_mut(&name) {
            schema.insert("additionalProperties".to_owned(), Value::Bool(false));
        }
    }
}

#[cfg(test)]
mod tests;
