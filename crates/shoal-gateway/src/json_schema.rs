//! A documented subset of JSON Schema (draft 2020-12 keywords), hand-written: the
//! `jsonschema` crate, even without default features, brings ~45 crates (two regex
//! engines, bignum fractions, its own URI and hashing stacks) for what request validation
//! needs from it.
//!
//! Supported: `type` (one or a list), `enum`, `const`, `minimum`, `maximum`,
//! `exclusiveMinimum`, `exclusiveMaximum`, `minLength`, `maxLength` (in characters),
//! `properties`, `required`, `additionalProperties` (boolean or schema), `minProperties`,
//! `maxProperties`, `items` (one schema for every element), `minItems`, `maxItems`, and
//! boolean schemas. Annotations (`$schema`, `$id`, `title`, `description`, `default`,
//! `examples`, `$comment`, `format`) are accepted and ignored. Any other keyword (`pattern`,
//! `$ref`, `oneOf`, ...) is refused when the file is loaded, so a schema never looks stricter
//! than it is.

use std::path::Path;

use serde_json::{Map, Value};

/// Violations reported in one answer.
pub const MAX_VIOLATIONS: usize = 5;
/// Deepest schema nesting accepted.
const MAX_DEPTH: usize = 64;

const ANNOTATIONS: &[&str] = &[
    "$schema",
    "$id",
    "title",
    "description",
    "default",
    "examples",
    "$comment",
    "format",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    Null,
    Boolean,
    Object,
    Array,
    Number,
    Integer,
    String,
}

impl Type {
    fn parse(name: &str) -> Option<Type> {
        Some(match name {
            "null" => Type::Null,
            "boolean" => Type::Boolean,
            "object" => Type::Object,
            "array" => Type::Array,
            "number" => Type::Number,
            "integer" => Type::Integer,
            "string" => Type::String,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Type::Null => "null",
            Type::Boolean => "boolean",
            Type::Object => "object",
            Type::Array => "array",
            Type::Number => "number",
            Type::Integer => "integer",
            Type::String => "string",
        }
    }

    fn matches(self, v: &Value) -> bool {
        match self {
            Type::Null => v.is_null(),
            Type::Boolean => v.is_boolean(),
            Type::Object => v.is_object(),
            Type::Array => v.is_array(),
            Type::Number => v.is_number(),
            Type::Integer => {
                v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            Type::String => v.is_string(),
        }
    }
}

#[derive(Debug, Default)]
struct Rules {
    types: Vec<Type>,
    enumeration: Option<Vec<Value>>,
    constant: Option<Value>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    exclusive_minimum: Option<f64>,
    exclusive_maximum: Option<f64>,
    min_length: Option<u64>,
    max_length: Option<u64>,
    properties: Vec<(String, Node)>,
    required: Vec<String>,
    additional: Option<Node>,
    min_properties: Option<u64>,
    max_properties: Option<u64>,
    items: Option<Node>,
    min_items: Option<u64>,
    max_items: Option<u64>,
}

#[derive(Debug)]
enum Node {
    Bool(bool),
    Rules(Box<Rules>),
}

/// A compiled schema.
#[derive(Debug)]
pub struct Schema {
    root: Node,
}

impl Schema {
    pub fn load(path: &Path) -> Result<Schema, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Schema::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Schema, String> {
        let value: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
        Ok(Schema {
            root: compile(&value, "#", 0)?,
        })
    }

    /// Checks a request body: it must be JSON and satisfy the schema. The error says why
    /// not, listing the first violations.
    pub fn check_body(&self, body: &[u8]) -> Result<(), String> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| format!("the request body is not valid JSON: {e}"))?;
        let violations = self.validate(&value);
        if violations.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "the request body does not match the schema: {}",
                violations.join("; ")
            ))
        }
    }

    /// The first violations of `value` (empty when it is valid), each as
    /// `/json/pointer: what is wrong`.
    pub fn validate(&self, value: &Value) -> Vec<String> {
        let mut out = Vec::new();
        check(&self.root, value, &mut String::new(), &mut out);
        out
    }
}

fn compile(value: &Value, at: &str, depth: usize) -> Result<Node, String> {
    if depth > MAX_DEPTH {
        return Err(format!("{at}: nested deeper than {MAX_DEPTH}"));
    }
    let map = match value {
        Value::Bool(b) => return Ok(Node::Bool(*b)),
        Value::Object(map) => map,
        _ => return Err(format!("{at}: a schema is an object or a boolean")),
    };
    let mut rules = Rules::default();
    for (key, v) in map {
        let here = format!("{at}/{key}");
        match key.as_str() {
            "type" => {
                let names: Vec<&Value> = match v {
                    Value::Array(list) => list.iter().collect(),
                    one => vec![one],
                };
                for name in names {
                    let t = name
                        .as_str()
                        .and_then(Type::parse)
                        .ok_or_else(|| format!("{here}: unknown type {name}"))?;
                    rules.types.push(t);
                }
            }
            "enum" => {
                rules.enumeration = Some(
                    v.as_array()
                        .cloned()
                        .ok_or_else(|| format!("{here}: must be an array"))?,
                )
            }
            "const" => rules.constant = Some(v.clone()),
            "minimum" => rules.minimum = Some(number(v, &here)?),
            "maximum" => rules.maximum = Some(number(v, &here)?),
            "exclusiveMinimum" => rules.exclusive_minimum = Some(number(v, &here)?),
            "exclusiveMaximum" => rules.exclusive_maximum = Some(number(v, &here)?),
            "minLength" => rules.min_length = Some(count(v, &here)?),
            "maxLength" => rules.max_length = Some(count(v, &here)?),
            "minProperties" => rules.min_properties = Some(count(v, &here)?),
            "maxProperties" => rules.max_properties = Some(count(v, &here)?),
            "minItems" => rules.min_items = Some(count(v, &here)?),
            "maxItems" => rules.max_items = Some(count(v, &here)?),
            "required" => {
                let list = v
                    .as_array()
                    .ok_or_else(|| format!("{here}: must be an array of names"))?;
                for name in list {
                    let name = name
                        .as_str()
                        .ok_or_else(|| format!("{here}: must be an array of names"))?;
                    rules.required.push(name.to_string());
                }
            }
            "properties" => {
                let props = v
                    .as_object()
                    .ok_or_else(|| format!("{here}: must be an object"))?;
                for (name, schema) in props {
                    let node = compile(schema, &format!("{here}/{name}"), depth + 1)?;
                    rules.properties.push((name.clone(), node));
                }
            }
            "additionalProperties" => rules.additional = Some(compile(v, &here, depth + 1)?),
            "items" => rules.items = Some(compile(v, &here, depth + 1)?),
            k if ANNOTATIONS.contains(&k) => {}
            other => {
                return Err(format!(
                    "{here}: keyword {other:?} is not supported (shoal validates type, enum, \
                     const, minimum, maximum, exclusiveMinimum, exclusiveMaximum, minLength, \
                     maxLength, properties, required, additionalProperties, minProperties, \
                     maxProperties, items, minItems, maxItems)"
                ))
            }
        }
    }
    Ok(Node::Rules(Box::new(rules)))
}

fn number(v: &Value, at: &str) -> Result<f64, String> {
    v.as_f64().ok_or_else(|| format!("{at}: must be a number"))
}

fn count(v: &Value, at: &str) -> Result<u64, String> {
    v.as_u64()
        .ok_or_else(|| format!("{at}: must be a non-negative integer"))
}

fn push(out: &mut Vec<String>, path: &str, message: String) {
    if out.len() < MAX_VIOLATIONS {
        let path = if path.is_empty() { "/" } else { path };
        out.push(format!("{path}: {message}"));
    }
}

fn check(node: &Node, v: &Value, path: &mut String, out: &mut Vec<String>) {
    if out.len() >= MAX_VIOLATIONS {
        return;
    }
    let rules = match node {
        Node::Bool(true) => return,
        Node::Bool(false) => return push(out, path, "not allowed here".into()),
        Node::Rules(rules) => rules,
    };
    if !rules.types.is_empty() && !rules.types.iter().any(|t| t.matches(v)) {
        let names: Vec<&str> = rules.types.iter().map(|t| t.name()).collect();
        return push(out, path, format!("must be of type {}", names.join(" or ")));
    }
    if let Some(allowed) = &rules.enumeration {
        if !allowed.iter().any(|a| a == v) {
            push(out, path, "is not one of the allowed values".into());
        }
    }
    if let Some(c) = &rules.constant {
        if c != v {
            push(out, path, format!("must be {c}"));
        }
    }
    if let Some(n) = v.as_f64() {
        if rules.minimum.is_some_and(|m| n < m) {
            push(
                out,
                path,
                format!("must be at least {}", rules.minimum.unwrap_or_default()),
            );
        }
        if rules.maximum.is_some_and(|m| n > m) {
            push(
                out,
                path,
                format!("must be at most {}", rules.maximum.unwrap_or_default()),
            );
        }
        if rules.exclusive_minimum.is_some_and(|m| n <= m) {
            push(
                out,
                path,
                format!(
                    "must be greater than {}",
                    rules.exclusive_minimum.unwrap_or_default()
                ),
            );
        }
        if rules.exclusive_maximum.is_some_and(|m| n >= m) {
            push(
                out,
                path,
                format!(
                    "must be less than {}",
                    rules.exclusive_maximum.unwrap_or_default()
                ),
            );
        }
    }
    if let Some(s) = v.as_str() {
        let len = s.chars().count() as u64;
        if let Some(min) = rules.min_length.filter(|m| len < *m) {
            push(out, path, format!("must be at least {min} characters long"));
        }
        if let Some(max) = rules.max_length.filter(|m| len > *m) {
            push(out, path, format!("must be at most {max} characters long"));
        }
    }
    if let Some(map) = v.as_object() {
        check_object(rules, map, path, out);
    }
    if let Some(list) = v.as_array() {
        let len = list.len() as u64;
        if let Some(min) = rules.min_items.filter(|m| len < *m) {
            push(out, path, format!("must have at least {min} items"));
        }
        if let Some(max) = rules.max_items.filter(|m| len > *m) {
            push(out, path, format!("must have at most {max} items"));
        }
        if let Some(items) = &rules.items {
            for (i, item) in list.iter().enumerate() {
                let len = path.len();
                path.push('/');
                path.push_str(&i.to_string());
                check(items, item, path, out);
                path.truncate(len);
            }
        }
    }
}

fn check_object(rules: &Rules, map: &Map<String, Value>, path: &mut String, out: &mut Vec<String>) {
    let len = map.len() as u64;
    if let Some(min) = rules.min_properties.filter(|m| len < *m) {
        push(out, path, format!("must have at least {min} properties"));
    }
    if let Some(max) = rules.max_properties.filter(|m| len > *m) {
        push(out, path, format!("must have at most {max} properties"));
    }
    for name in &rules.required {
        if !map.contains_key(name) {
            push(out, path, format!("property {name:?} is required"));
        }
    }
    for (name, value) in map {
        let schema = rules
            .properties
            .iter()
            .find(|(p, _)| p == name)
            .map(|(_, s)| s)
            .or(rules.additional.as_ref());
        if let Some(schema) = schema {
            let len = path.len();
            path.push('/');
            // JSON pointer escaping (RFC 6901).
            path.push_str(&name.replace('~', "~0").replace('/', "~1"));
            check(schema, value, path, out);
            path.truncate(len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Schema {
        Schema::parse(
            r#"{
              "$schema": "https://json-schema.org/draft/2020-12/schema",
              "type": "object",
              "required": ["name", "qty"],
              "additionalProperties": false,
              "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 5},
                "qty": {"type": "integer", "minimum": 1, "maximum": 10},
                "kind": {"enum": ["a", "b"]},
                "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
                "price": {"type": ["number", "null"], "exclusiveMinimum": 0}
              }
            }"#,
        )
        .expect("valid schema")
    }

    #[test]
    fn valid_documents_pass() {
        let s = schema();
        assert!(s.validate(&json!({"name": "abc", "qty": 3})).is_empty());
        assert!(s
            .validate(&json!({"name": "é", "qty": 10.0, "kind": "b", "tags": ["x"], "price": null}))
            .is_empty());
    }

    #[test]
    fn violations_are_listed_with_paths() {
        let s = schema();
        let v = s.validate(&json!({"name": "", "qty": 0, "extra": 1, "tags": ["x", 2, "z"]}));
        assert_eq!(
            v,
            [
                "/extra: not allowed here",
                "/name: must be at least 1 characters long",
                "/qty: must be at least 1",
                "/tags: must have at most 2 items",
                "/tags/1: must be of type string",
            ]
        );
        assert_eq!(s.validate(&json!([1])), ["/: must be of type object"]);
        assert_eq!(
            s.validate(&json!({"qty": 1.5, "name": "toolong"})),
            [
                "/name: must be at most 5 characters long",
                "/qty: must be of type integer"
            ]
        );
        let many = s.validate(&json!({"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6}));
        assert_eq!(many.len(), MAX_VIOLATIONS);
    }

    #[test]
    fn unsupported_keywords_are_refused() {
        let e = Schema::parse(r#"{"properties": {"a": {"pattern": "^x"}}}"#).unwrap_err();
        assert!(e.contains("#/properties/a/pattern"), "{e}");
        assert!(Schema::parse(r#"{"type": "thing"}"#).is_err());
        assert!(Schema::parse("[]").is_err());
        assert!(Schema::parse("{").is_err());
        let deep = "{\"items\":".repeat(100) + "true" + &"}".repeat(100);
        assert!(Schema::parse(&deep).unwrap_err().contains("deeper"));
    }
}
