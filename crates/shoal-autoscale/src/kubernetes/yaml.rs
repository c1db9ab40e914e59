//! The YAML a kubeconfig is written in, read into a JSON value: block mappings and
//! sequences (a sequence may sit at its key's own indentation, as kubectl writes it),
//! `- key: value` items, plain, single- and double-quoted scalars, `#` comments, and flow
//! collections written as JSON (`{}`, `[]`). Anchors, tags, multi-line scalars and other
//! documents are not kubeconfig material and are refused or read as plain text.

use serde_json::{Map, Value};

struct Line {
    indent: usize,
    text: String,
    number: usize,
}

/// Parses a document; a file holding JSON is JSON.
pub fn parse(text: &str) -> Result<Value, String> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        return serde_json::from_str(trimmed).map_err(|e| format!("invalid JSON: {e}"));
    }
    let lines: Vec<Line> = text
        .lines()
        .enumerate()
        .filter_map(|(i, raw)| {
            let text = strip_comment(raw).trim_end().to_string();
            let indent = text.len() - text.trim_start().len();
            let content = text.trim_start();
            if content.is_empty() || content == "---" || content.starts_with('%') {
                return None;
            }
            Some(Line {
                indent,
                text: content.to_string(),
                number: i + 1,
            })
        })
        .collect();
    let mut lines = lines;
    let mut i = 0;
    if lines.is_empty() {
        return Ok(Value::Null);
    }
    let indent = lines[0].indent;
    let value = block(&mut lines, &mut i, indent)?;
    if let Some(line) = lines.get(i) {
        return Err(format!("line {}: unexpected indentation", line.number));
    }
    Ok(value)
}

/// Removes a `#` comment that is not inside quotes.
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut previous = ' ';
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' && previous.is_whitespace() => return &line[..i],
            None => {}
        }
        previous = c;
    }
    line
}

fn is_item(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

fn block(lines: &mut Vec<Line>, i: &mut usize, indent: usize) -> Result<Value, String> {
    match lines.get(*i) {
        Some(line) if is_item(&line.text) => sequence(lines, i, indent),
        Some(_) => mapping(lines, i, indent),
        None => Ok(Value::Null),
    }
}

fn sequence(lines: &mut Vec<Line>, i: &mut usize, indent: usize) -> Result<Value, String> {
    let mut items = Vec::new();
    while let Some(line) = lines.get(*i) {
        if line.indent != indent || !is_item(&line.text) {
            break;
        }
        let rest = line.text[1..].trim_start().to_string();
        if rest.is_empty() {
            *i += 1;
            match lines.get(*i) {
                Some(next) if next.indent > indent => {
                    let deeper = next.indent;
                    items.push(block(lines, i, deeper)?);
                }
                _ => items.push(Value::Null),
            }
            continue;
        }
        if split_key(&rest).is_some() {
            // `- key: value`: a mapping whose first line starts after the dash.
            let column = indent + (line.text.len() - rest.len());
            lines[*i].indent = column;
            lines[*i].text = rest;
            items.push(mapping(lines, i, column)?);
            continue;
        }
        items.push(scalar(&rest));
        *i += 1;
    }
    Ok(Value::Array(items))
}

fn mapping(lines: &mut Vec<Line>, i: &mut usize, indent: usize) -> Result<Value, String> {
    let mut map = Map::new();
    while let Some(line) = lines.get(*i) {
        if line.indent < indent || is_item(&line.text) && line.indent == indent {
            break;
        }
        if line.indent > indent {
            return Err(format!("line {}: unexpected indentation", line.number));
        }
        let number = line.number;
        let Some((key, rest)) = split_key(&line.text) else {
            return Err(format!("line {number}: expected `key: value`"));
        };
        *i += 1;
        let value = if rest.is_empty() {
            match lines.get(*i) {
                Some(next) if next.indent > indent => {
                    let deeper = next.indent;
                    block(lines, i, deeper)?
                }
                // kubectl's style: the list sits at the key's own indentation.
                Some(next) if next.indent == indent && is_item(&next.text) => {
                    sequence(lines, i, indent)?
                }
                _ => Value::Null,
            }
        } else {
            scalar(&rest)
        };
        map.insert(key, value);
    }
    Ok(Value::Object(map))
}

/// `key: rest` or `key:` (the key possibly quoted); `None` when the line is not a pair.
fn split_key(text: &str) -> Option<(String, String)> {
    let (key, rest) = if let Some(stripped) = text.strip_prefix('"') {
        let end = stripped.find('"')?;
        (unquote_double(&stripped[..end]), &stripped[end + 1..])
    } else if let Some(stripped) = text.strip_prefix('\'') {
        let end = stripped.find('\'')?;
        (stripped[..end].to_string(), &stripped[end + 1..])
    } else {
        let end = text
            .find(": ")
            .or_else(|| text.ends_with(':').then(|| text.len() - 1))?;
        if text.starts_with(['{', '[']) {
            return None;
        }
        (text[..end].trim().to_string(), &text[end..])
    };
    let rest = rest.strip_prefix(':')?;
    if !rest.is_empty() && !rest.starts_with(' ') {
        return None;
    }
    Some((key, rest.trim().to_string()))
}

fn unquote_double(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

fn scalar(text: &str) -> Value {
    if let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        return Value::String(unquote_double(inner));
    }
    if let Some(inner) = text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
        return Value::String(inner.replace("''", "'"));
    }
    if text.starts_with(['{', '[']) {
        if let Ok(v) = serde_json::from_str(text) {
            return v;
        }
    }
    match text {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "null" | "~" => Value::Null,
        _ => Value::String(text.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_kubectl_kubeconfig() {
        let text = r#"apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tLS1
    server: https://127.0.0.1:6443   # the API server
  name: kind-kind
contexts:
- context:
    cluster: kind-kind
    namespace: "shop"
    user: kind-kind
  name: kind-kind
current-context: 'kind-kind'
kind: Config
preferences: {}
users:
- name: kind-kind
  user:
    token: abc#def
    insecure: false
"#;
        let v = parse(text).expect("parses");
        assert_eq!(v["current-context"], "kind-kind");
        assert_eq!(v["clusters"][0]["name"], "kind-kind");
        assert_eq!(
            v["clusters"][0]["cluster"]["server"],
            "https://127.0.0.1:6443"
        );
        assert_eq!(v["contexts"][0]["context"]["namespace"], "shop");
        assert_eq!(v["users"][0]["user"]["token"], "abc#def");
        assert_eq!(v["users"][0]["user"]["insecure"], false);
        assert_eq!(v["preferences"], json!({}));
    }

    #[test]
    fn indented_sequences_and_json() {
        let v = parse("a:\n  - x\n  - y: 1\n    z: 2\nb: [1, 2]\n").expect("parses");
        assert_eq!(v, json!({"a": ["x", {"y": "1", "z": "2"}], "b": [1, 2]}));
        let v = parse("{\"a\": 1}").expect("json");
        assert_eq!(v["a"], 1);
    }

    #[test]
    fn bad_indentation_is_an_error() {
        assert!(parse("a: 1\n    b: 2\n").is_err());
        assert!(parse("just text\n").is_err());
    }
}
