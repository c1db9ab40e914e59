//! `shoal check`'s rows for `[filters.NAME]` and an upstream's `sticky`.

use shoal_core::format_duration;

use crate::filter_types::{
    FilterConfig, FilterKind, HeaderOps, RateKey, StickyConfig, Template, TemplatePart,
};

/// (label, value) rows for one filter; the first is its kind.
pub(crate) fn rows(filter: &FilterConfig) -> Vec<(&'static str, String)> {
    let mut rows = vec![("kind", filter.kind.name().to_string())];
    match &filter.kind {
        FilterKind::Jwt(c) => {
            rows.push(("algorithms", c.algorithms.join(", ")));
            rows.push(("keys", c.keys.path.display().to_string()));
            if !c.issuer.is_empty() {
                rows.push(("issuer", c.issuer.join(", ")));
            }
            if !c.audience.is_empty() {
                rows.push(("audience", c.audience.join(", ")));
            }
            rows.push(("leeway", format_duration(c.leeway)));
            if !c.forward_claims.is_empty() {
                let list: Vec<String> = c
                    .forward_claims
                    .iter()
                    .map(|(claim, header)| format!("{claim} -> {header}"))
                    .collect();
                rows.push(("forward_claims", list.join(", ")));
            }
        }
        FilterKind::ApiKey(c) => {
            rows.push(("keys", c.keys.path.display().to_string()));
            let from = match &c.query {
                Some(q) => format!("header {}, query {q}", c.header),
                None => format!("header {}", c.header),
            };
            rows.push(("from", from));
        }
        FilterKind::BasicAuth(c) => {
            rows.push(("htpasswd", c.htpasswd.path.display().to_string()));
            rows.push(("realm", c.realm.clone()));
        }
        FilterKind::RateLimit(c) => {
            let key = match &c.key {
                RateKey::ClientIp => "client_ip".to_string(),
                RateKey::Route => "route".to_string(),
                RateKey::Header(h) => format!("header:{h}"),
                RateKey::Cookie(n) => format!("cookie:{n}"),
                RateKey::Query(n) => format!("query:{n}"),
                RateKey::Claim(n) => format!("claim:{n}"),
            };
            rows.push(("key", key));
            let unit = match c.rate.per.as_secs() {
                1 => "s",
                60 => "m",
                _ => "h",
            };
            rows.push((
                "rate",
                format!("{}/{unit}, burst {} (store local)", c.rate.count, c.burst),
            ));
            rows.push(("max_keys", c.max_keys.to_string()));
        }
        FilterKind::Limits(c) => {
            if !c.methods.is_empty() {
                let m: Vec<&str> = c.methods.iter().map(|m| m.as_str()).collect();
                rows.push(("methods", m.join(",")));
            }
            let mut sizes = Vec::new();
            if let Some(v) = c.max_body_bytes {
                sizes.push(format!("body {v}"));
            }
            if let Some(v) = c.max_uri_length {
                sizes.push(format!("uri {v}"));
            }
            if let Some(v) = c.max_header_bytes {
                sizes.push(format!("header bytes {v}"));
            }
            if let Some(v) = c.max_header_count {
                sizes.push(format!("header count {v}"));
            }
            if !sizes.is_empty() {
                rows.push(("max", sizes.join(", ")));
            }
            if !c.required_headers.is_empty() {
                let h: Vec<&str> = c.required_headers.iter().map(|h| h.as_str()).collect();
                rows.push(("required_headers", h.join(", ")));
            }
            if !c.content_types.is_empty() {
                rows.push(("content_types", c.content_types.join(", ")));
            }
            if let Some(schema) = &c.json_schema {
                rows.push(("json_schema", schema.path.display().to_string()));
            }
        }
        FilterKind::Headers(c) => {
            ops(&mut rows, "request", &c.request);
            ops(&mut rows, "response", &c.response);
        }
        FilterKind::Cors(c) => {
            rows.push(("origins", c.origins.join(", ")));
            let m: Vec<&str> = c.methods.iter().map(|m| m.as_str()).collect();
            rows.push(("methods", m.join(",")));
            if let Some(age) = c.max_age {
                rows.push(("max_age", format_duration(age)));
            }
            rows.push(("credentials", c.credentials.to_string()));
        }
        FilterKind::Redirect(c) => {
            rows.push((
                "location",
                format!("{} {}", c.status, template(&c.location)),
            ));
        }
        FilterKind::Respond(c) => {
            rows.push((
                "status",
                format!("{} ({} bytes, {})", c.status, c.body.len(), c.content_type),
            ));
        }
    }
    rows
}

fn ops(rows: &mut Vec<(&'static str, String)>, label: &'static str, ops: &HeaderOps) {
    let mut parts = Vec::new();
    for (name, value) in &ops.set {
        parts.push(format!("set {name}: {}", template(value)));
    }
    for (name, value) in &ops.append {
        parts.push(format!("append {name}: {}", template(value)));
    }
    for name in &ops.remove {
        parts.push(format!("remove {name}"));
    }
    if !parts.is_empty() {
        rows.push((label, parts.join("; ")));
    }
}

/// A template as written.
fn template(t: &Template) -> String {
    t.0.iter()
        .map(|p| match p {
            TemplatePart::Literal(s) => s.clone(),
            TemplatePart::ClientIp => "${client_ip}".into(),
            TemplatePart::RequestId => "${request_id}".into(),
            TemplatePart::Claim(c) => format!("${{claim.{c}}}"),
            TemplatePart::ApiKeyName => "${api_key_name}".into(),
            TemplatePart::Host => "${host}".into(),
            TemplatePart::Path => "${path}".into(),
            TemplatePart::Query => "${query}".into(),
        })
        .collect()
}

/// `cookie shoal_affinity, ttl 1h, key from /etc/shoal/sticky.key`.
pub(crate) fn sticky(s: &StickyConfig) -> String {
    let key = match &s.secret_file {
        Some(f) => format!("key from {}", f.path.display()),
        None => "per-process random key".to_string(),
    };
    format!("cookie {}, ttl {}, {key}", s.cookie, format_duration(s.ttl))
}
