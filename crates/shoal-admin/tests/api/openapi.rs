//! `docs/admin-api.yaml` against the real routes: the (method, path) pairs of the OpenAPI
//! document must be exactly [`shoal_admin::endpoints`] — the list the router is built from —
//! both ways, so a route added without its documentation (or documentation of a route that
//! does not exist) fails here. The document is read with a real YAML parser (yaml-rust2) and
//! also checked for what a client relies on: operation ids, path parameters, security, the
//! error shape, and that every `$ref` resolves.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};
use yaml_rust2::{Yaml, YamlLoader};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

/// Endpoints answered without a token (they declare `security: []`).
const OPEN: [&str; 6] = [
    "/live",
    "/ready",
    "/",
    "/ui/dashboard.js",
    "/ui/dashboard.css",
    "/ui/favicon.svg",
];

fn spec() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/admin-api.yaml");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    let docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(docs.len(), 1, "{path}: one YAML document");
    to_json(&docs[0])
}

/// YAML to JSON; mapping keys must be strings (or scalars written as strings), as OpenAPI's.
fn to_json(yaml: &Yaml) -> Value {
    match yaml {
        Yaml::Real(text) => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Null, Value::Number),
        Yaml::Integer(n) => Value::from(*n),
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::Hash(hash) => {
            let mut map = Map::new();
            for (key, value) in hash {
                let key = match key {
                    Yaml::String(s) | Yaml::Real(s) => s.clone(),
                    Yaml::Integer(n) => n.to_string(),
                    Yaml::Boolean(b) => b.to_string(),
                    other => panic!("unsupported mapping key {other:?}"),
                };
                assert!(
                    map.insert(key.clone(), to_json(value)).is_none(),
                    "key {key} twice"
                );
            }
            Value::Object(map)
        }
        Yaml::Null => Value::Null,
        other => panic!("unsupported YAML node {other:?} (aliases are not used in the spec)"),
    }
}

/// `(METHOD, path)` of every operation in the document.
fn documented(spec: &Value) -> BTreeSet<(String, String)> {
    let paths = spec["paths"].as_object().expect("paths is a mapping");
    let mut out = BTreeSet::new();
    for (path, item) in paths {
        let item = item
            .as_object()
            .unwrap_or_else(|| panic!("{path}: a mapping"));
        for key in item.keys() {
            if METHODS.contains(&key.as_str()) {
                out.insert((key.to_uppercase(), path.clone()));
            } else {
                assert!(
                    ["parameters", "summary", "description", "servers"].contains(&key.as_str()),
                    "{path}: unexpected key {key}"
                );
            }
        }
    }
    out
}

fn served() -> BTreeSet<(String, String)> {
    shoal_admin::endpoints()
        .into_iter()
        .map(|e| (e.method.to_string(), e.path))
        .collect()
}

#[test]
fn the_document_lists_exactly_the_routes_the_server_has() {
    let spec = spec();
    let documented = documented(&spec);
    let served = served();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "docs/admin-api.yaml and the admin router disagree.\n\
         Served but not in the yaml (document them): {undocumented:#?}\n\
         In the yaml but not served (remove them or add the route): {unserved:#?}"
    );
    assert_eq!(
        shoal_admin::endpoints().len(),
        served.len(),
        "no endpoint registered twice"
    );
}

/// Follows a local `$ref` (`#/components/...`).
fn resolve<'a>(spec: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("only local refs: {reference}"));
            spec.pointer(pointer)
                .unwrap_or_else(|| panic!("unresolved $ref {reference}"))
        }
        None => value,
    }
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if key == "$ref" {
                    out.push(v.as_str().expect("$ref is a string").to_string());
                } else {
                    collect_refs(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

#[test]
fn the_document_is_complete_and_consistent() {
    let spec = spec();
    assert!(
        spec["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "OpenAPI 3.1: {}",
        spec["openapi"]
    );
    assert!(spec["info"]["title"].is_string() && spec["info"]["version"].is_string());
    let bearer = &spec["components"]["securitySchemes"]["bearer"];
    assert_eq!(
        (bearer["type"].as_str(), bearer["scheme"].as_str()),
        (Some("http"), Some("bearer"))
    );
    assert_eq!(
        spec["security"],
        serde_json::json!([{ "bearer": [] }]),
        "the token by default"
    );
    let error = &spec["components"]["schemas"]["Error"];
    assert_eq!(error["required"], serde_json::json!(["error", "code"]));

    let mut refs = Vec::new();
    collect_refs(&spec, &mut refs);
    assert!(!refs.is_empty());
    for reference in &refs {
        resolve(&spec, &serde_json::json!({ "$ref": reference }));
    }

    let mut ids = BTreeMap::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        let wanted: BTreeSet<String> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(str::to_string)
            .collect();
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let at = format!("{} {path}", method.to_uppercase());
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{at}: operationId"));
            assert!(
                ids.insert(id.to_string(), at.clone()).is_none(),
                "{at}: operationId {id} twice"
            );
            assert!(op["summary"].is_string(), "{at}: summary");
            // Path parameters: declared exactly, from the path item or the operation.
            let mut declared = BTreeSet::new();
            for list in [&item["parameters"], &op["parameters"]] {
                for p in list.as_array().into_iter().flatten() {
                    let p = resolve(&spec, p);
                    if p["in"] == "path" {
                        assert_eq!(p["required"], true, "{at}: path parameters are required");
                        declared.insert(p["name"].as_str().expect("name").to_string());
                    }
                }
            }
            assert_eq!(declared, wanted, "{at}: path parameters");
            // Responses: at least one success; every response described.
            let responses = op["responses"]
                .as_object()
                .unwrap_or_else(|| panic!("{at}: responses"));
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{at}: a 2xx response"
            );
            for (status, response) in responses {
                assert!(
                    resolve(&spec, response)["description"].is_string(),
                    "{at} {status}: description"
                );
            }
            // Security: open endpoints say so; the others inherit the token and list 401.
            if OPEN.contains(&path.as_str()) {
                assert_eq!(
                    op["security"],
                    serde_json::json!([]),
                    "{at}: open, security: []"
                );
            } else {
                assert!(
                    op.get("security").is_none(),
                    "{at}: inherits the bearer token"
                );
                assert!(responses.contains_key("401"), "{at}: documents 401");
            }
            // Bodies: the JSON endpoints that take one say so.
            if let Some(body) = op.get("requestBody") {
                assert!(
                    body["content"]["application/json"]["schema"].is_object(),
                    "{at}: a JSON request schema"
                );
                assert!(responses.contains_key("415"), "{at}: documents 415");
            }
        }
    }
}
