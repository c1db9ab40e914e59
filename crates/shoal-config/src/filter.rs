//! `[filters.NAME]`: gateway filters, each with a `kind` and that kind's keys. This file
//! dispatches on `kind` and parses the authentication kinds and `rate_limit`; the others are
//! in `filter_kinds.rs`. Files the filters name are resolved and checked after the walk
//! (`files.rs`); their contents are parsed by shoal-gateway, which reports problems at the
//! same key and line.

use std::time::Duration;

use http::HeaderName;

use crate::document::{all, Ctx, Node, Table};
use crate::filter_kinds;
use crate::filter_types::{
    ApiKeyConfig, BasicAuthConfig, FilterConfig, FilterKind, JwtConfig, Rate, RateKey,
    RateLimitConfig, FILTER_KINDS, JWT_ALGORITHMS,
};
use crate::suggest;

pub(crate) const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
pub(crate) const DEFAULT_MAX_KEYS: usize = 100_000;
const MAX_KEYS_RANGE: std::ops::RangeInclusive<u32> = 1..=10_000_000;
const MAX_BURST: u32 = 1_000_000;
const MAX_RATE_COUNT: u32 = 1_000_000_000;

/// All of `[filters]`, in file order.
pub(crate) fn filters(ctx: &mut Ctx, table: &Table<'_, '_>) -> Option<Vec<FilterConfig>> {
    let mut parsed = Vec::new();
    for (name, key_span, node) in table.entries() {
        let named = ctx.name("filter", &node.path, &key_span, name);
        parsed.push(filter(ctx, name, &node).filter(|_| named));
    }
    all(parsed)
}

fn filter(ctx: &mut Ctx, name: &str, node: &Node<'_, '_>) -> Option<FilterConfig> {
    let table = ctx.table(node)?;
    let kind = ctx.required(
        &table,
        "kind",
        &format!("one of: {}", FILTER_KINDS.join(", ")),
        |ctx, n| {
            let text = ctx.string(n)?;
            if FILTER_KINDS.contains(&text) {
                return Some(text);
            }
            let hint = match suggest::closest(text, FILTER_KINDS) {
                Some(close) => format!("did you mean {close:?}? "),
                None => String::new(),
            };
            ctx.error_at(
                n,
                format!(
                    "unknown filter kind {text:?} ({hint}accepted kinds: {})",
                    FILTER_KINDS.join(", ")
                ),
            );
            None
        },
    )?;
    let kind = match kind {
        "jwt" => jwt(ctx, &table).map(FilterKind::Jwt),
        "api_key" => api_key(ctx, &table).map(FilterKind::ApiKey),
        "basic_auth" => basic_auth(ctx, &table).map(FilterKind::BasicAuth),
        "rate_limit" => rate_limit(ctx, &table).map(FilterKind::RateLimit),
        "limits" => filter_kinds::limits(ctx, &table).map(FilterKind::Limits),
        "headers" => filter_kinds::headers(ctx, &table).map(FilterKind::Headers),
        "cors" => filter_kinds::cors(ctx, &table).map(FilterKind::Cors),
        "redirect" => filter_kinds::redirect(ctx, &table).map(FilterKind::Redirect),
        _ => filter_kinds::respond(ctx, &table).map(FilterKind::Respond),
    };
    Some(FilterConfig {
        name: name.to_string(),
        kind: kind?,
    })
}

/// A header name, lower-cased.
pub(crate) fn header_name(ctx: &mut Ctx, node: &Node<'_, '_>) -> Option<HeaderName> {
    let text = ctx.string(node)?;
    match HeaderName::from_bytes(text.as_bytes()) {
        Ok(name) => Some(name),
        Err(_) => {
            ctx.error_at(node, format!("{text:?} is not a valid header name"));
            None
        }
    }
}

/// A list of strings, each checked by `item`.
pub(crate) fn list<T>(
    ctx: &mut Ctx,
    node: &Node<'_, '_>,
    mut item: impl FnMut(&mut Ctx, &Node<'_, '_>) -> Option<T>,
) -> Option<Vec<T>> {
    let items = ctx.array(node)?;
    let parsed: Vec<Option<T>> = items.iter().map(|n| item(ctx, n)).collect();
    all(parsed)
}

/// A string or a list of strings (`issuer = "x"` or `issuer = ["x", "y"]`), non-empty.
fn one_or_many(ctx: &mut Ctx, node: &Node<'_, '_>) -> Option<Vec<String>> {
    let values = match node.value {
        toml::de::DeValue::String(_) => vec![ctx.string(node)?.to_string()],
        _ => list(ctx, node, |ctx, n| ctx.string(n).map(str::to_string))?,
    };
    if values.is_empty() || values.iter().any(String::is_empty) {
        ctx.error_at(node, "must be a non-empty string or a list of them");
        return None;
    }
    Some(values)
}

const JWT_KEYS: &[&str] = &[
    "kind",
    "algorithms",
    "keys",
    "issuer",
    "audience",
    "leeway",
    "forward_claims",
];

fn jwt(ctx: &mut Ctx, table: &Table<'_, '_>) -> Option<JwtConfig> {
    table.check_keys(ctx, JWT_KEYS);
    let algorithms = ctx.required(
        table,
        "algorithms",
        "e.g. [\"RS256\", \"ES256\"]",
        |ctx, n| {
            let algorithms = list(ctx, n, |ctx, n| {
                let text = ctx.string(n)?;
                match JWT_ALGORITHMS.iter().find(|a| a.eq_ignore_ascii_case(text)) {
                    Some(a) => Some((*a).to_string()),
                    None => {
                        ctx.error_at(
                            n,
                            format!(
                                "unknown algorithm {text:?} (accepted: {}; \"none\" never is)",
                                JWT_ALGORITHMS.join(", ")
                            ),
                        );
                        None
                    }
                }
            })?;
            if algorithms.is_empty() {
                ctx.error_at(n, "algorithms is empty: list at least one");
                return None;
            }
            let hmac = algorithms.iter().any(|a| a.starts_with("HS"));
            if hmac && algorithms.iter().any(|a| !a.starts_with("HS")) {
                // One key file is either a shared secret or public keys; allowing both
                // families invites the algorithm-confusion attack (a public key used as an
                // HMAC secret).
                ctx.error_at(
                    n,
                    "HS* algorithms (a shared secret) cannot be mixed with public-key algorithms \
                     in one filter: use two jwt filters",
                );
                return None;
            }
            Some(algorithms)
        },
    );
    let keys = ctx.required(
        table,
        "keys",
        "a JWKS file, a PEM public key or a shared-secret file",
        |ctx, n| ctx.file_ref(n),
    );
    let issuer = ctx.field(table, "issuer", Vec::new(), one_or_many);
    let audience = ctx.field(table, "audience", Vec::new(), one_or_many);
    let leeway = ctx.field(table, "leeway", DEFAULT_LEEWAY, |ctx, n| {
        let d = ctx.duration(n, true)?;
        if d > Duration::from_secs(3600) {
            ctx.error_at(n, "leeway is at most 1h");
            return None;
        }
        Some(d)
    });
    let forward_claims = ctx.field(table, "forward_claims", Vec::new(), |ctx, n| {
        let table = ctx.table(n)?;
        let mut parsed = Vec::new();
        for (claim, _, value) in table.entries() {
            if claim.is_empty() {
                ctx.error_at(&value, "claim name is empty");
                parsed.push(None);
                continue;
            }
            let header = header_name(ctx, &value);
            if let Some(h) = &header {
                if crate::filter_kinds::is_managed_header(h) {
                    ctx.error_at(
                        &value,
                        format!("{:?} is a header shoal manages; pick another", h.as_str()),
                    );
                    parsed.push(None);
                    continue;
                }
            }
            parsed.push(header.map(|h| (claim.to_string(), h)));
        }
        all(parsed)
    });
    Some(JwtConfig {
        algorithms: algorithms?,
        keys: keys?,
        issuer: issuer?,
        audience: audience?,
        leeway: leeway?,
        forward_claims: forward_claims?,
    })
}

const API_KEY_KEYS: &[&str] = &["kind", "keys", "header", "query"];

fn api_key(ctx: &mut Ctx, table: &Table<'_, '_>) -> Option<ApiKeyConfig> {
    table.check_keys(ctx, API_KEY_KEYS);
    let keys = ctx.required(
        table,
        "keys",
        "a file of `NAME SHA256-HEX` lines",
        |ctx, n| ctx.file_ref(n),
    );
    let header = ctx.field(
        table,
        "header",
        HeaderName::from_static("x-api-key"),
        header_name,
    );
    let query = ctx.field(table, "query", None, |ctx, n| {
        let text = ctx.string(n)?;
        if text.is_empty() || text.contains(['&', '=', '#', ' ']) {
            ctx.error_at(n, format!("{text:?} is not a query parameter name"));
            return None;
        }
        Some(Some(text.to_string()))
    });
    Some(ApiKeyConfig {
        keys: keys?,
        header: header?,
        query: query?,
    })
}

const BASIC_AUTH_KEYS: &[&str] = &["kind", "htpasswd", "realm"];

fn basic_auth(ctx: &mut Ctx, table: &Table<'_, '_>) -> Option<BasicAuthConfig> {
    table.check_keys(ctx, BASIC_AUTH_KEYS);
    let htpasswd = ctx.required(
        table,
        "htpasswd",
        "an htpasswd file with bcrypt entries (htpasswd -B)",
        |ctx, n| ctx.file_ref(n),
    );
    let realm = ctx.field(table, "realm", "shoal".to_string(), |ctx, n| {
        let text = ctx.string(n)?;
        if text.is_empty()
            || text.len() > 128
            || !text.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
            || text.contains('"')
            || text.contains('\\')
        {
            ctx.error_at(
                n,
                "realm must be 1 to 128 visible ASCII characters, without quotes or backslashes",
            );
            return None;
        }
        Some(text.to_string())
    });
    Some(BasicAuthConfig {
        htpasswd: htpasswd?,
        realm: realm?,
    })
}

const RATE_LIMIT_KEYS: &[&str] = &["kind", "key", "rate", "burst", "store", "max_keys"];

fn rate_limit(ctx: &mut Ctx, table: &Table<'_, '_>) -> Option<RateLimitConfig> {
    table.check_keys(ctx, RATE_LIMIT_KEYS);
    let key = ctx.required(
        table,
        "key",
        "client_ip, header:NAME, cookie:NAME, query:NAME, claim:NAME or route",
        rate_key,
    );
    let rate = ctx.required(table, "rate", "e.g. \"100/s\" or \"6000/m\"", |ctx, n| {
        let text = ctx.string(n)?;
        match parse_rate(text) {
            Some(rate) => Some(rate),
            None => {
                ctx.error_at(
                    n,
                    format!(
                        "{text:?} is not a rate (a count per unit: \"100/s\", \"6000/m\", \
                         \"50000/h\"; the count 1 to {MAX_RATE_COUNT})"
                    ),
                );
                None
            }
        }
    });
    let burst = ctx.field(table, "burst", None, |ctx, n| {
        ctx.u32(n, 1..=MAX_BURST).map(Some)
    });
    ctx.field(table, "store", (), |ctx, n| {
        let text = ctx.string(n)?;
        match text {
            "local" => Some(()),
            "redis" => {
                ctx.error_at(
                    n,
                    "store \"redis\" is not available yet (it comes with clustering); use \
                     \"local\" (each shoal instance counts on its own)",
                );
                None
            }
            _ => {
                ctx.error_at(n, format!("unknown store {text:?} (accepted: local)"));
                None
            }
        }
    });
    let max_keys = ctx.field(table, "max_keys", DEFAULT_MAX_KEYS, |ctx, n| {
        ctx.usize(n, MAX_KEYS_RANGE)
    });
    let rate = rate?;
    Some(RateLimitConfig {
        key: key?,
        burst: burst?.unwrap_or(rate.count.clamp(1, MAX_BURST)),
        rate,
        max_keys: max_keys?,
    })
}

/// `"100/s"`, `"6000/m"`, `"50000/h"`.
pub(crate) fn parse_rate(text: &str) -> Option<Rate> {
    let (count, unit) = text.trim().split_once('/')?;
    let count: u32 = count.trim().parse().ok()?;
    if count == 0 || count > MAX_RATE_COUNT {
        return None;
    }
    let per = match unit.trim() {
        "s" => Duration::from_secs(1),
        "m" => Duration::from_secs(60),
        "h" => Duration::from_secs(3600),
        _ => return None,
    };
    Some(Rate { count, per })
}

fn rate_key(ctx: &mut Ctx, node: &Node<'_, '_>) -> Option<RateKey> {
    let text = ctx.string(node)?;
    let valid_name = |name: &str| {
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    };
    let key = match text.split_once(':') {
        None if text == "client_ip" => Some(RateKey::ClientIp),
        None if text == "route" => Some(RateKey::Route),
        Some(("header", name)) => HeaderName::from_bytes(name.as_bytes())
            .ok()
            .filter(|_| valid_name(name))
            .map(RateKey::Header),
        Some(("cookie", name)) if valid_name(name) => Some(RateKey::Cookie(name.to_string())),
        Some(("query", name)) if valid_name(name) => Some(RateKey::Query(name.to_string())),
        Some(("claim", name)) if valid_name(name) => Some(RateKey::Claim(name.to_string())),
        _ => None,
    };
    if key.is_none() {
        ctx.error_at(
            node,
            format!(
                "{text:?} is not a rate-limit key (expected client_ip, route, header:NAME, \
                 cookie:NAME, query:NAME or claim:NAME)"
            ),
        );
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        let r = |count, secs| {
            Some(Rate {
                count,
                per: Duration::from_secs(secs),
            })
        };
        assert_eq!(parse_rate("100/s"), r(100, 1));
        assert_eq!(parse_rate("6000/m"), r(6000, 60));
        assert_eq!(parse_rate(" 5 / h "), r(5, 3600));
        for bad in ["0/s", "10", "10/d", "/s", "-1/s", "1.5/s", "10/sec"] {
            assert_eq!(parse_rate(bad), None, "{bad}");
        }
    }
}
