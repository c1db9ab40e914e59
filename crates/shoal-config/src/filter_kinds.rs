//! The filter kinds that need no secrets: `limits`, `headers`, `cors`, `redirect`,
//! `respond`, and the `${...}` templates header values and redirect locations use.

use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};

use crate::document::{all, Ctx, Node, Table};
use crate::filter::{header_name, list};
use crate::filter_types::{
    CorsConfig, HeaderOps, HeadersConfig, LimitsConfig, RedirectConfig, RespondConfig, Template,
    TemplatePart,
};
use crate::route_match;

/// Headers shoal sets or relies on itself: a filter may not set or forward into them.
pub(crate) fn is_managed_header(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "host"
            | "content-length"
            | "transfer-encoding"
            | "connection"
            | "upgrade"
            | "te"
            | "trailer"
            | "keep-alive"
            | "proxy-connection"
            | "x-request-id"
            | "x-api-key-name"
    )
}

const LIMITS_KEYS: &[&str] = &[
    "kind",
    "methods",
    "max_body_bytes",
    "max_uri_length",
    "max_header_bytes",
    "max_header_count",
    "required_headers",
    "content_types",
    "json_schema",
];

pub(crate) fn limits(ctx: &mut Ctx, table: &Table<'_, '_>) -> Option<LimitsConfig> {
    table.check_keys(ctx, LIMITS_KEYS);
    let methods = ctx.field(table, "methods", Vec::new(), route_match::methods);
    let max_body_bytes = ctx.field(table, "max_body_bytes", None, |ctx, n| {
        ctx.size(n, 0).map(Some)
    });
    let max_uri_length = ctx.field(table, "max_uri_length", None, |ctx, n| {
        ctx.usize(n, 1..=1 << 20).map(Some)
    });
    let max_header_bytes = ctx.field(table, "max_header_bytes", None, |ctx, n| {
        ctx.size(n, 1)
            .and_then(|v| usize::try_from(v).ok())
            .map(Some)
    });
    let max_header_count = ctx.field(table, "max_header_count", None, |ctx, n| {
        ctx.usize(n, 1..=10_000).map(Some)
    });
    let required_headers = ctx.field(table, "required_headers", Vec::new(), |ctx, n| {
        list(ctx, n, header_name)
    });
    let content_types = ctx.field(table, "content_types", Vec::new(), |ctx, n| {
        list(ctx, n, |ctx, n| {
            let text = ctx.string(n)?.trim().to_ascii_lowercase();
            let valid = text.split_once('/').is_some_and(|(t, s)| {
                let token = |p: &str| {
                    !p.is_empty()
                        && p.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+*".contains(&b))
                };
                token(t) && token(s)
            });
            if !valid {
                ctx.error_at(
                    n,
                    format!(
                        "{text:?} is not a media type (e.g. \"application/json\", no parameters)"
                    ),
                );
                return None;
            }
            Some(text)
        })
    });
    let json_schema = ctx.field(table, "json_schema", None, |ctx, n| {
        ctx.file_ref(n).map(Some)
    });
    if let (Some(Some(_)), Some(None)) = (&json_schema, &max_body_bytes) {
        // Validation buffers the body: it needs a bound.
        ctx.error(
            &table.path,
            &table.span,
            "json_schema needs max_body_bytes (the body is buffered to be validated)",
        );
        return None;
    }
    Some(LimitsConfig {
        methods: methods?,
        max_body_bytes: max_body_bytes?,
        max_uri_length: max_uri_length?,
        max_header_bytes: max_header_bytes?,
        max_header_count: max_header_count?,
        required_headers: required_headers?,
        content_types: content_types?,
        json_schema: json_schema?,
    })
}

const HEADERS_KEYS: &[&str] = &["kind", "request", "response"];
const OPS_KEYS: &[&str] = &["set", "append", "remove"];

pub(crate) fn headers(ctx: &mut Ctx, table: &Table<'_, '_>) -> Option<HeadersConfig> {
    table.check_keys(ctx, HEADERS_KEYS);
    let request = ctx.field(table, "request", HeaderOps::default(), header_ops);
    let response = ctx.field(table, "response", HeaderOps::default(), header_ops);
    let (request, response) = (request?, response?);
    if request.is_empty() && response.is_empty() {
        ctx.error(
            &table.path,
            &table.span,
            "headers filter does nothing: add [request] or [response] with set, append or remove",
        );
        return None;
    }
    Some(HeadersConfig { request, response })
}

fn header_ops(ctx: &mut Ctx, node: &Node<'_, '_>) -> Option<HeaderOps> {
    let table = ctx.table(node)?;
    table.check_keys(ctx, OPS_KEYS);
    let set = ctx.field(&table, "set", Vec::new(), templated_headers);
    let append = ctx.field(&table, "append", Vec::new(), templated_headers);
    let remove = ctx.field(&table, "remove", Vec::new(), |ctx, n| {
        list(ctx, n, |ctx, n| {
            let name = header_name(ctx, n)?;
            if is_managed_header(&name) {
                ctx.error_at(n, format!("{:?} is managed by shoal", name.as_str()));
                return None;
            }
            Some(name)
        })
    });
    Some(HeaderOps {
        set: set?,
        append: append?,
        remove: remove?,
    })
}

/// `{ x-name = "template", ... }`
fn templated_headers(ctx: &mut Ctx, node: &Node<'_, '_>) -> Option<Vec<(HeaderName, Template)>> {
    let table = ctx.table(node)?;
    let mut parsed = Vec::new();
    for (key, key_span, value) in table.entries() {
        let name = match HeaderName::from_bytes(key.as_bytes()) {
            Ok(name) if is_managed_header(&name) => {
                ctx.error(
                    &value.path,
                    &key_span,
                    format!("{key:?} is managed by shoal"),
                );
                None
            }
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
        let template = template(ctx, &value);
        parsed.push(name.zip(template));
    }
    all(parsed)
}

/// Variables a template may use, for the error message.
const VARIABLES: &str =
    "${client_ip}, ${request_id}, ${claim.NAME}, ${api_key_name}, ${host}, ${path}, ${query}";

/// A string with `${...}` variables. Literal parts must be valid in a header value.
pub(crate) fn template(ctx: &mut Ctx, node: &Node<'_, '_>) -> Option<Template> {
    let text = ctx.string(node)?;
    match parse_template(text) {
        Ok(t) => Some(t),
        Err(message) => {
            ctx.error_at(node, message);
            None
        }
    }
}

pub(crate) fn parse_template(text: &str) -> Result<Template, String> {
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        if start > 0 {
            parts.push(TemplatePart::Literal(rest[..start].to_string()));
        }
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("{text:?}: unclosed \"${{\""))?;
        let name = &after[..end];
        let part = match name {
            "client_ip" => TemplatePart::ClientIp,
            "request_id" => TemplatePart::RequestId,
            "api_key_name" => TemplatePart::ApiKeyName,
            "host" => TemplatePart::Host,
            "path" => TemplatePart::Path,
            "query" => TemplatePart::Query,
            _ => match name.strip_prefix("claim.") {
                Some(claim) if !claim.is_empty() => TemplatePart::Claim(claim.to_string()),
                _ => {
                    return Err(format!(
                        "unknown variable \"${{{name}}}\" (accepted: {VARIABLES})"
                    ))
                }
            },
        };
        parts.push(part);
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        parts.push(TemplatePart::Literal(rest.to_string()));
    }
    for part in &parts {
        if let TemplatePart::Literal(literal) = part {
            if HeaderValue::from_str(literal).is_err() {
                return Err(format!(
                    "{text:?} has characters not allowed in a header value"
                ));
            }
        }
    }
    Ok(Template(parts))
}

const CORS_KEYS: &[&str] = &[
    "kind",
    "origins",
    "methods",
    "headers",
    "expose_headers",
    "max_age",
    "credentials",
];

pub(crate) fn cors(ctx: &mut Ctx, table: &Table<'_, '_>) -> Option<CorsConfig> {
    table.check_keys(ctx, CORS_KEYS);
    let origins = ctx.required(
        table,
        "origins",
        "[\"https://app.example.com\"] or [\"*\"]",
        |ctx, n| {
            let origins = list(ctx, n, |ctx, n| {
                let text = ctx.string(n)?;
                if text == "*" {
                    return Some(text.to_string());
                }
                let lower = text.to_ascii_lowercase();
                let valid = (lower.starts_with("https://") || lower.starts_with("http://"))
                    && !lower.ends_with('/')
                    && lower.split_once("://").is_some_and(|(_, rest)| {
                        !rest.is_empty() && !rest.contains(['/', '?', '#', ' '])
                    });
                if !valid {
                    ctx.error_at(
                        n,
                        format!(
                            "{text:?} is not an origin (scheme://host[:port], no path), or \"*\""
                        ),
                    );
                    return None;
                }
                Some(lower)
            })?;
            if origins.is_empty() {
                ctx.error_at(n, "origins is empty: list at least one origin, or \"*\"");
                return None;
            }
            Some(origins)
        },
    );
    let methods = ctx.field(
        table,
        "methods",
        vec![Method::GET, Method::HEAD, Method::POST],
        route_match::methods,
    );
    let headers = ctx.field(table, "headers", Vec::new(), |ctx, n| {
        list(ctx, n, header_name)
    });
    let expose_headers = ctx.field(table, "expose_headers", Vec::new(), |ctx, n| {
        list(ctx, n, header_name)
    });
    let max_age = ctx.field(table, "max_age", None, |ctx, n| {
        let d = ctx.duration(n, true)?;
        if d > Duration::from_secs(86_400) {
            ctx.error_at(n, "max_age is at most 24h (browsers cap it lower anyway)");
            return None;
        }
        Some(Some(d))
    });
    let credentials = ctx.field(table, "credentials", false, |ctx, n| ctx.bool(n));
    let config = CorsConfig {
        origins: origins?,
        methods: methods?,
        headers: headers?,
        expose_headers: expose_headers?,
        max_age: max_age?,
        credentials: credentials?,
    };
    if config.credentials && config.any_origin() {
        ctx.error(
            &table.path,
            &table.span,
            "credentials = true cannot be combined with origins = [\"*\"] (browsers refuse it): \
             list the origins",
        );
        return None;
    }
    Some(config)
}

const REDIRECT_KEYS: &[&str] = &["kind", "location", "status"];

pub(crate) fn redirect(ctx: &mut Ctx, table: &Table<'_, '_>) -> Option<RedirectConfig> {
    table.check_keys(ctx, REDIRECT_KEYS);
    let location = ctx.required(
        table,
        "location",
        "where to send the client, e.g. \"https://new.example.com${path}\"",
        template,
    );
    let status = ctx.field(table, "status", 301, |ctx, n| {
        let status = ctx.u32(n, 300..=399)?;
        if ![301, 302, 303, 307, 308].contains(&status) {
            ctx.error_at(n, "status must be 301, 302, 303, 307 or 308");
            return None;
        }
        u16::try_from(status).ok()
    });
    Some(RedirectConfig {
        location: location?,
        status: status?,
    })
}

const RESPOND_KEYS: &[&str] = &["kind", "status", "body", "content_type", "headers"];

/// Largest `respond` body: an answer written in the config file, not a file server.
const MAX_RESPOND_BODY: usize = 64 * 1024;

pub(crate) fn respond(ctx: &mut Ctx, table: &Table<'_, '_>) -> Option<RespondConfig> {
    table.check_keys(ctx, RESPOND_KEYS);
    let status = ctx.field(table, "status", 200, |ctx, n| {
        ctx.u32(n, 200..=599).and_then(|s| u16::try_from(s).ok())
    });
    let body = ctx.field(table, "body", String::new(), |ctx, n| {
        let text = ctx.string(n)?;
        if text.len() > MAX_RESPOND_BODY {
            ctx.error_at(n, format!("body is longer than {MAX_RESPOND_BODY} bytes"));
            return None;
        }
        Some(text.to_string())
    });
    let content_type = ctx.field(
        table,
        "content_type",
        "text/plain; charset=utf-8".to_string(),
        |ctx, n| {
            let text = ctx.string(n)?;
            if HeaderValue::from_str(text).is_err() || text.is_empty() {
                ctx.error_at(n, format!("{text:?} is not a valid header value"));
                return None;
            }
            Some(text.to_string())
        },
    );
    let headers = ctx.field(table, "headers", Vec::new(), |ctx, n| {
        let headers = route_match::headers(ctx, n)?;
        for (name, _) in &headers {
            if is_managed_header(name) || name == http::header::CONTENT_TYPE {
                ctx.error_at(
                    n,
                    format!("{:?} cannot be set here (shoal sets it)", name.as_str()),
                );
                return None;
            }
        }
        Some(headers)
    });
    Some(RespondConfig {
        status: status?,
        body: body?,
        content_type: content_type?,
        headers: headers?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        let t = parse_template("a ${client_ip}-${claim.sub}${path}z").expect("valid");
        assert_eq!(
            t.0,
            vec![
                TemplatePart::Literal("a ".into()),
                TemplatePart::ClientIp,
                TemplatePart::Literal("-".into()),
                TemplatePart::Claim("sub".into()),
                TemplatePart::Path,
                TemplatePart::Literal("z".into()),
            ]
        );
        assert_eq!(
            parse_template("plain").expect("valid").literal(),
            Some("plain")
        );
        assert!(parse_template("${nope}").is_err());
        assert!(parse_template("${claim.}").is_err());
        assert!(parse_template("x ${client_ip").is_err());
        assert!(parse_template("bad\nvalue").is_err());
    }
}
