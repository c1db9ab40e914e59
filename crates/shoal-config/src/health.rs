//! `[upstreams.NAME.health]`: active checks (what is probed, how often, and what counts as
//! passing).

use std::time::Duration;

use shoal_core::format_duration;
use toml::de::DeValue;

use crate::document::{Ctx, Node};
use crate::listener::one_of;
use crate::route_match::check_host_name;
use crate::types::{HealthCheckKind, HealthConfig};

const KEYS: &[&str] = &[
    "kind",
    "path",
    "liveness_path",
    "interval",
    "timeout",
    "rise",
    "fall",
    "expect_status",
    "host",
    "wait_for_first_check",
];

const KINDS: &[(&str, HealthCheckKind)] = &[
    ("http", HealthCheckKind::Http),
    ("tcp", HealthCheckKind::Tcp),
];

pub(crate) const DEFAULT_PATH: &str = "/health/ready";
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
pub(crate) const DEFAULT_RISE: u32 = 2;
pub(crate) const DEFAULT_FALL: u32 = 3;
pub(crate) const RISE_FALL_RANGE: std::ops::RangeInclusive<u32> = 1..=100;
pub(crate) const DEFAULT_EXPECT_STATUS: (u16, u16) = (200, 399);
const STATUS_RANGE: std::ops::RangeInclusive<u16> = 100..=599;

pub(crate) fn health(ctx: &mut Ctx, node: &Node<'_, '_>) -> Option<HealthConfig> {
    let table = ctx.table(node)?;
    table.check_keys(ctx, KEYS);
    let kind = ctx.field(&table, "kind", HealthCheckKind::Http, |ctx, n| {
        one_of(ctx, n, "kind", KINDS)
    });
    // The keys of an HTTP probe are refused on a TCP one rather than ignored. When `kind` is
    // itself invalid the check is skipped rather than guessed.
    let http_only = |ctx: &mut Ctx, n: &Node<'_, '_>| {
        if kind == Some(HealthCheckKind::Tcp) {
            let key = n.path.rsplit('.').next().unwrap_or_default().to_string();
            ctx.error_at(
                n,
                format!("{key} applies only to kind = \"http\", not \"tcp\""),
            );
            return false;
        }
        true
    };
    let path = ctx.field(&table, "path", DEFAULT_PATH.to_string(), |ctx, n| {
        let ok = http_only(ctx, n);
        probe_path(ctx, n, "path").filter(|_| ok)
    });
    let liveness_path = ctx.field(&table, "liveness_path", None, |ctx, n| {
        let ok = http_only(ctx, n);
        probe_path(ctx, n, "liveness_path").filter(|_| ok).map(Some)
    });
    let interval = ctx.field(&table, "interval", DEFAULT_INTERVAL, |ctx, n| {
        ctx.duration(n, false)
    });
    let timeout = ctx.field(&table, "timeout", DEFAULT_TIMEOUT, |ctx, n| {
        ctx.duration(n, false)
    });
    // A probe must end before the next one is due. The error goes on whichever of the two
    // the file sets (timeout first): that is the one to change.
    let timing_ok = match (interval, timeout) {
        (Some(interval), Some(timeout)) if timeout >= interval => {
            match (table.get("timeout"), table.get("interval")) {
                (Some(n), _) => ctx.error_at(
                    &n,
                    format!(
                        "must be shorter than interval ({})",
                        format_duration(interval)
                    ),
                ),
                (None, Some(n)) => ctx.error_at(
                    &n,
                    format!(
                        "must be longer than timeout ({}, the default): lengthen interval or \
                         set a shorter timeout",
                        format_duration(timeout)
                    ),
                ),
                // The defaults (5s, 1s) are consistent; kept total for safety.
                (None, None) => ctx.error(
                    &table.path,
                    &table.span,
                    "timeout must be shorter than interval",
                ),
            }
            false
        }
        _ => true,
    };
    let rise = ctx.field(&table, "rise", DEFAULT_RISE, |ctx, n| {
        ctx.u32(n, RISE_FALL_RANGE)
    });
    let fall = ctx.field(&table, "fall", DEFAULT_FALL, |ctx, n| {
        ctx.u32(n, RISE_FALL_RANGE)
    });
    let expect_status = ctx.field(&table, "expect_status", DEFAULT_EXPECT_STATUS, |ctx, n| {
        let ok = http_only(ctx, n);
        expect_status(ctx, n).filter(|_| ok)
    });
    let host = ctx.field(&table, "host", None, |ctx, n| {
        let ok = http_only(ctx, n);
        probe_host(ctx, n).filter(|_| ok).map(Some)
    });
    let wait_for_first_check =
        ctx.field(&table, "wait_for_first_check", true, |ctx, n| ctx.bool(n));
    if !timing_ok {
        return None;
    }
    Some(HealthConfig {
        kind: kind?,
        path: path?,
        liveness_path: liveness_path?,
        interval: interval?,
        timeout: timeout?,
        rise: rise?,
        fall: fall?,
        expect_status: expect_status?,
        host: host?,
        wait_for_first_check: wait_for_first_check?,
    })
}

/// The path (and optional query) a probe requests: starts with `/`, and is a valid request
/// target without whitespace, control characters or a fragment.
fn probe_path(ctx: &mut Ctx, node: &Node<'_, '_>, what: &str) -> Option<String> {
    let text = ctx.string(node)?;
    if !text.starts_with('/') {
        ctx.error_at(node, format!("{what} must start with \"/\" (got {text:?})"));
        return None;
    }
    if let Some(bad) = text
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || *c == '#')
    {
        ctx.error_at(
            node,
            format!("{what} {text:?} contains {bad:?}, which cannot appear in a request path"),
        );
        return None;
    }
    if text.parse::<http::uri::PathAndQuery>().is_err() {
        ctx.error_at(node, format!("{what} {text:?} is not a valid request path"));
        return None;
    }
    Some(text.to_string())
}

/// `"200"`, `"200-399"`, or an integer `200`.
fn expect_status(ctx: &mut Ctx, node: &Node<'_, '_>) -> Option<(u16, u16)> {
    match node.value {
        DeValue::Integer(_) => {
            let wide = i64::from(*STATUS_RANGE.start())..=i64::from(*STATUS_RANGE.end());
            let status = u16::try_from(ctx.integer(node, wide)?).ok()?;
            Some((status, status))
        }
        DeValue::String(text) => match parse_status_range(text) {
            Ok(range) => Some(range),
            Err(message) => {
                ctx.error_at(node, message);
                None
            }
        },
        _ => {
            ctx.type_error(node, "a status or a range of statuses, e.g. \"200-399\"");
            None
        }
    }
}

fn parse_status_range(text: &str) -> Result<(u16, u16), String> {
    let malformed =
        || format!("{text:?} is not a status or a range of statuses (e.g. \"200\" or \"200-399\")");
    let status = |part: &str| -> Result<u16, String> {
        if part.len() != 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed());
        }
        let status: u16 = part.parse().map_err(|_| malformed())?;
        if !STATUS_RANGE.contains(&status) {
            return Err(format!(
                "status {status} in {text:?} is not an HTTP status (100 to 599)"
            ));
        }
        Ok(status)
    };
    let (low, high) = match text.split_once('-') {
        Some((low, high)) => (status(low)?, status(high)?),
        None => {
            let status = status(text)?;
            (status, status)
        }
    };
    if low > high {
        return Err(format!(
            "{text:?} is backwards: write the lower status first (\"{high}-{low}\")"
        ));
    }
    Ok((low, high))
}

/// The probe's Host header: a host name without a port, stored lower-case.
fn probe_host(ctx: &mut Ctx, node: &Node<'_, '_>) -> Option<String> {
    let text = ctx.string(node)?;
    let lower = text.to_ascii_lowercase();
    let checked = if lower.contains(':') {
        Err(format!(
            "host {text:?} must be a host name without a port (the probe connects to the \
             backend's address)"
        ))
    } else {
        check_host_name(text, &lower)
    };
    match checked {
        Ok(()) => Some(lower),
        Err(message) => {
            ctx.error_at(node, message);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_ranges() {
        assert_eq!(parse_status_range("200"), Ok((200, 200)));
        assert_eq!(parse_status_range("200-399"), Ok((200, 399)));
        assert_eq!(parse_status_range("100-599"), Ok((100, 599)));
        assert_eq!(parse_status_range("204-204"), Ok((204, 204)));
        for bad in [
            "",
            "-",
            "2xx",
            "20",
            "2000",
            "200-",
            "-399",
            "200 - 399",
            "200-399-499",
            "+200",
            "099",
            "600",
            "200-600",
            "399-200",
        ] {
            assert!(
                parse_status_range(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
        assert!(parse_status_range("399-200")
            .expect_err("backwards")
            .contains("\"200-399\""));
    }
}
