//! A route's `match = { host, path_prefix | path, methods, headers }`.
//!
//! Everything is normalised here so the router compares without folding case on the hot
//! path: hosts and header names lower-case, methods upper-case.

use http::{HeaderName, HeaderValue, Method};

use crate::document::{all, Ctx, Node};
use crate::route::path_string;
use crate::types::{HostMatch, PathMatch, RouteMatch};

const KEYS: &[&str] = &["host", "path_prefix", "path", "methods", "headers"];

/// Longest DNS name, and longest label in one.
const MAX_HOST_LEN: usize = 253;
const MAX_LABEL_LEN: usize = 63;

pub(crate) fn parse(ctx: &mut Ctx, node: &Node<'_, '_>) -> Option<RouteMatch> {
    let table = ctx.table(node)?;
    table.check_keys(ctx, KEYS);
    let host = ctx.field(&table, "host", None, |ctx, n| host(ctx, n).map(Some));
    let path = match (table.get("path"), table.get("path_prefix")) {
        (Some(_), Some(_)) => {
            ctx.error_at(
                node,
                "match has both `path` and `path_prefix`: give at most one",
            );
            None
        }
        (Some(n), None) => path_string(ctx, &n, "path").map(|p| Some(PathMatch::Exact(p))),
        (None, Some(n)) => path_string(ctx, &n, "path_prefix").map(|p| Some(PathMatch::Prefix(p))),
        (None, None) => Some(None),
    };
    let methods = ctx.field(&table, "methods", Vec::new(), methods);
    let headers = ctx.field(&table, "headers", Vec::new(), headers);
    Some(RouteMatch {
        host: host?,
        path: path?,
        methods: methods?,
        headers: headers?,
    })
}

/// `api.example.com` or `*.example.com`; lower-cased, no port.
fn host(ctx: &mut Ctx, node: &Node<'_, '_>) -> Option<HostMatch> {
    let text = ctx.string(node)?;
    match parse_host(text) {
        Ok(host) => Some(host),
        Err(message) => {
            ctx.error_at(node, message);
            None
        }
    }
}

pub(crate) fn parse_host(text: &str) -> Result<HostMatch, String> {
    let lower = text.to_ascii_lowercase();
    if lower.contains(':') {
        return Err(format!(
            "host {text:?} must be a host name without a port (the listener's bind decides the port)"
        ));
    }
    if lower == "*" {
        return Err("host \"*\" matches every host: leave `host` out instead".to_string());
    }
    if let Some(rest) = lower.strip_prefix("*.") {
        check_host_name(text, rest)?;
        return Ok(HostMatch::Wildcard(format!(".{rest}")));
    }
    if lower.contains('*') {
        return Err(format!(
            "host {text:?}: only a leading \"*.\" wildcard is supported, e.g. \"*.example.com\""
        ));
    }
    check_host_name(text, &lower)?;
    Ok(HostMatch::Exact(lower))
}

/// Letters, digits and `-` in dot-separated labels of 1..=63 characters (RFC 1123), no
/// leading or trailing `-`. International names must be written in punycode, because that is
/// what arrives in the Host header.
pub(crate) fn check_host_name(original: &str, name: &str) -> Result<(), String> {
    let invalid = |why: &str| Err(format!("host {original:?} is not a valid host name: {why}"));
    if name.is_empty() {
        return invalid("it is empty");
    }
    if name.len() > MAX_HOST_LEN {
        return invalid("it is longer than 253 characters");
    }
    for label in name.split('.') {
        if label.is_empty() {
            return invalid(
                "it has an empty label (two dots in a row, or a leading or trailing dot)",
            );
        }
        if label.len() > MAX_LABEL_LEN {
            return invalid("a label is longer than 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return invalid(
                "only letters, digits, '-' and '.' are allowed (use punycode for international names)",
            );
        }
        if label.starts_with('-') || label.ends_with('-') {
            return invalid("a label starts or ends with '-'");
        }
    }
    Ok(())
}

/// A non-empty list of method tokens, upper-cased: methods are case-sensitive on the wire
/// and `get` in a config file means `GET`.
pub(crate) fn methods(ctx: &mut Ctx, node: &Node<'_, '_>) -> Option<Vec<Method>> {
    let items = ctx.array(node)?;
    if items.is_empty() {
        ctx.error_at(
            node,
            "methods is empty: list at least one method, or leave `methods` out to match any",
        );
        return None;
    }
    let parsed: Vec<Option<Method>> = items.iter().map(|item| method(ctx, item)).collect();
    let mut methods = all(parsed)?;
    // A repeat is harmless; keep the first occurrence so the order stays as written.
    let mut seen = Vec::with_capacity(methods.len());
    methods.retain(|m| {
        let fresh = !seen.contains(m);
        if fresh {
            seen.push(m.clone());
        }
        fresh
    });
    Some(methods)
}

fn method(ctx: &mut Ctx, node: &Node<'_, '_>) -> Option<Method> {
    let text = ctx.string(node)?;
    let upper = text.to_ascii_uppercase();
    match Method::from_bytes(upper.as_bytes()) {
        Ok(method) if !upper.is_empty() => Some(method),
        _ => {
            ctx.error_at(node, format!("{text:?} is not an HTTP method"));
            None
        }
    }
}

/// `headers = { x-env = "beta" }`: names lower-cased, values exact. File order is kept.
pub(crate) fn headers(ctx: &mut Ctx, node: &Node<'_, '_>) -> Option<Vec<(HeaderName, String)>> {
    let table = ctx.table(node)?;
    let mut parsed: Vec<Option<(HeaderName, String)>> = Vec::new();
    for (key, key_span, value) in table.entries() {
        let name = match HeaderName::from_bytes(key.as_bytes()) {
            Ok(name) => Some(name),
            Err(_) => {
                ctx.error(
                    &value.path,
                    &key_span,
                    format!("{key:?} is not a valid header name"),
                );
                None
            }
        };
        // Header names are case-insensitive: `X-Env` and `x-env` are the same header.
        if let Some(name) = &name {
            let repeated = parsed.iter().flatten().any(|(seen, _)| seen == name);
            if repeated {
                ctx.error(
                    &value.path,
                    &key_span,
                    format!(
                        "header {:?} is listed twice (names ignore case)",
                        name.as_str()
                    ),
                );
            }
        }
        let text = ctx.string(&value).and_then(|text| {
            if HeaderValue::from_str(text).is_ok() {
                Some(text.to_string())
            } else {
                ctx.error_at(&value, format!("{text:?} is not a valid header value"));
                None
            }
        });
        parsed.push(name.zip(text));
    }
    all(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_normalised() {
        assert_eq!(
            parse_host("API.Example.com"),
            Ok(HostMatch::Exact("api.example.com".into()))
        );
        assert_eq!(
            parse_host("*.Example.com"),
            Ok(HostMatch::Wildcard(".example.com".into()))
        );
        assert_eq!(
            parse_host("10.0.0.1"),
            Ok(HostMatch::Exact("10.0.0.1".into()))
        );
    }

    #[test]
    fn bad_hosts_are_refused() {
        for bad in [
            "",
            "*",
            "a..b",
            "example.com.",
            "api.example.com:80",
            "a.*.com",
            "*example.com",
            "-a.com",
            "a-.com",
            "under_score.com",
            "exämple.com",
            "a b.com",
        ] {
            assert!(parse_host(bad).is_err(), "{bad:?} should be refused");
        }
        let long_label = format!("{}.com", "a".repeat(64));
        assert!(parse_host(&long_label).is_err());
    }
}
