//! `[upstreams.NAME]`: algorithm and its tuning, backends, timeouts, retries, pooling, and the
//! health policy (panic threshold, slow start, drain timeout; the `health` and `outlier`
//! tables are parsed in `health.rs` and `outlier.rs`).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use shoal_core::{Algorithm, HashKey};
use toml::de::DeValue;

use crate::document::{all, Ctx, Node, Table};
use crate::types::{BackendConfig, OutlierConfig, UpstreamConfig, UpstreamProtocol};
use crate::{autoscale, health, outlier, upstream_tls};

const KEYS: &[&str] = &[
    "algorithm",
    "backends",
    "hash_key",
    "hash_balance_factor",
    "virtual_nodes",
    "maglev_table_size",
    "connect_timeout",
    "response_timeout",
    "retries",
    "retry_backoff",
    "keepalive_timeout",
    "max_idle_connections",
    "protocol",
    "tls",
    "panic_threshold",
    "slow_start",
    "drain_timeout",
    "ws_idle_timeout",
    "health",
    "outlier",
    "sticky",
    "autoscale",
];
const BACKEND_KEYS: &[&str] = &["addr", "weight"];

pub(crate) const DEFAULT_VIRTUAL_NODES: u32 = 160;
pub(crate) const MAX_VIRTUAL_NODES: u32 = 10_000;
/// 65537 is prime and gives < 1 % load imbalance up to ~650 backends.
pub(crate) const DEFAULT_MAGLEV_TABLE_SIZE: u32 = 65_537;
/// Smallest and largest maglev tables accepted; both bounds are prime. The top is Envoy's
/// limit, which shoal-balance clamps to as well.
pub(crate) const MAGLEV_TABLE_SIZE_RANGE: std::ops::RangeInclusive<u32> = 7..=5_000_011;
/// Largest backend weight. Weights are proportions; bounding them bounds the ring hash size.
pub(crate) const MAX_BACKEND_WEIGHT: u32 = 1_000;
/// A ring with more points than this (weights × virtual_nodes) costs hundreds of MB to build.
pub(crate) const MAX_RING_POINTS: u64 = 10_000_000;
pub(crate) const MAX_RETRIES: u32 = 10;
pub(crate) const MAX_IDLE_CONNECTIONS: u32 = 65_536;

pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
pub(crate) const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
pub(crate) const DEFAULT_RETRIES: u32 = 2;
pub(crate) const DEFAULT_RETRY_BACKOFF: Duration = Duration::from_millis(25);
pub(crate) const DEFAULT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(60);
pub(crate) const DEFAULT_MAX_IDLE_CONNECTIONS: usize = 128;
pub(crate) const DEFAULT_PANIC_THRESHOLD: u32 = 50;
pub(crate) const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// HAProxy's `timeout tunnel` is often set to 1h for WebSocket; a tunnel idle that long is
/// almost always a client that went away without closing.
pub(crate) const DEFAULT_WS_IDLE_TIMEOUT: Duration = Duration::from_secs(3600);

/// All of `[upstreams]`, in file order. `base_dir`: the config file's directory when loading
/// from a file (TLS file paths are resolved against it and the files checked).
pub(crate) fn upstreams(
    ctx: &mut Ctx,
    table: &Table<'_, '_>,
    base_dir: Option<&Path>,
) -> Option<Vec<UpstreamConfig>> {
    let mut parsed = Vec::new();
    for (name, key_span, node) in table.entries() {
        let named = ctx.name("upstream", &node.path, &key_span, name);
        parsed.push(upstream(ctx, name, &node, base_dir).filter(|_| named));
    }
    all(parsed)
}

fn upstream(
    ctx: &mut Ctx,
    name: &str,
    node: &Node<'_, '_>,
    base_dir: Option<&Path>,
) -> Option<UpstreamConfig> {
    let table = ctx.table(node)?;
    table.check_keys(ctx, KEYS);
    let algorithm = ctx.field(&table, "algorithm", Algorithm::default(), |ctx, n| {
        let text = ctx.string(n)?;
        text.parse::<Algorithm>()
            .map_err(|message| ctx.error_at(n, message))
            .ok()
    });
    // An autoscaled upstream's backends come from its provider: static ones are optional.
    let autoscaled = table.get("autoscale").is_some();
    let backends = if autoscaled {
        ctx.field(&table, "backends", Vec::new(), |ctx, n| {
            backends(ctx, n, true)
        })
    } else {
        ctx.required(
            &table,
            "backends",
            "a list of addresses, e.g. [\"127.0.0.1:9001\"]",
            |ctx, n| backends(ctx, n, false),
        )
    };

    // The tuning keys of one algorithm are refused on another: a stray `maglev_table_size`
    // on a ring_hash upstream is a mistake the operator should hear about, not a no-op.
    // When the algorithm itself is invalid, these checks are skipped rather than guessed.
    let only_for = |ctx: &mut Ctx, n: &Node<'_, '_>, ok: fn(Algorithm) -> bool, which: &str| {
        if let Some(algorithm) = algorithm.filter(|a| !ok(*a)) {
            let key = n.path.rsplit('.').next().unwrap_or_default().to_string();
            ctx.error_at(n, format!("{key} applies only to {which}, not {algorithm}"));
        }
    };
    let hash_key = ctx.field(&table, "hash_key", None, |ctx, n| {
        only_for(ctx, n, Algorithm::is_hashing, "ring_hash and maglev");
        let text = ctx.string(n)?;
        text.parse::<HashKey>()
            .map_err(|e| ctx.error_at(n, e.to_string()))
            .ok()
            .map(Some)
    });
    let hash_balance_factor = ctx.field(&table, "hash_balance_factor", None, |ctx, n| {
        only_for(ctx, n, Algorithm::is_hashing, "ring_hash and maglev");
        let factor = ctx.float(n)?;
        if factor <= 1.0 {
            ctx.error_at(
                n,
                format!("must be greater than 1.0 (got {factor:?}); e.g. 1.25 caps each backend at 125 % of the mean load"),
            );
            return None;
        }
        Some(Some(factor))
    });
    let virtual_nodes = ctx.field(&table, "virtual_nodes", DEFAULT_VIRTUAL_NODES, |ctx, n| {
        only_for(ctx, n, |a| a == Algorithm::RingHash, "ring_hash");
        ctx.u32(n, 1..=MAX_VIRTUAL_NODES)
    });
    let maglev_table_size = ctx.field(
        &table,
        "maglev_table_size",
        DEFAULT_MAGLEV_TABLE_SIZE,
        |ctx, n| {
            only_for(ctx, n, |a| a == Algorithm::Maglev, "maglev");
            maglev_table_size(ctx, n, backends.as_ref().map_or(0, Vec::len))
        },
    );
    if let (Some(Algorithm::RingHash), Some(backends), Some(vnodes)) =
        (algorithm, &backends, virtual_nodes)
    {
        check_ring_size(ctx, &table, backends, vnodes);
    }

    let connect_timeout = ctx.field(
        &table,
        "connect_timeout",
        DEFAULT_CONNECT_TIMEOUT,
        |ctx, n| ctx.duration(n, false),
    );
    let response_timeout = ctx.field(
        &table,
        "response_timeout",
        DEFAULT_RESPONSE_TIMEOUT,
        |ctx, n| ctx.duration(n, false),
    );
    let retries = ctx.field(&table, "retries", DEFAULT_RETRIES, |ctx, n| {
        ctx.u32(n, 0..=MAX_RETRIES)
    });
    // Zero backoff is meaningful: retry at once on another backend.
    let retry_backoff = ctx.field(&table, "retry_backoff", DEFAULT_RETRY_BACKOFF, |ctx, n| {
        ctx.duration(n, true)
    });
    let keepalive_timeout = ctx.field(
        &table,
        "keepalive_timeout",
        DEFAULT_KEEPALIVE_TIMEOUT,
        |ctx, n| {
            let d = ctx.duration(n, true)?;
            if d.is_zero() {
                ctx.error_at(
                    n,
                    "must be greater than zero (to disable pooling, set max_idle_connections = 0)",
                );
                return None;
            }
            Some(d)
        },
    );
    let max_idle_connections = ctx.field(
        &table,
        "max_idle_connections",
        DEFAULT_MAX_IDLE_CONNECTIONS,
        |ctx, n| ctx.usize(n, 0..=MAX_IDLE_CONNECTIONS),
    );
    let protocol = ctx.field(
        &table,
        "protocol",
        UpstreamProtocol::default(),
        upstream_tls::protocol,
    );
    let tls = ctx.field(&table, "tls", None, |ctx, n| {
        upstream_tls::tls(ctx, n, base_dir).map(Some)
    });
    let panic_threshold = ctx.field(
        &table,
        "panic_threshold",
        DEFAULT_PANIC_THRESHOLD,
        |ctx, n| ctx.u32(n, 0..=100),
    );
    let slow_start = ctx.field(&table, "slow_start", None, |ctx, n| {
        ctx.duration(n, false).map(Some)
    });
    let drain_timeout = ctx.field(&table, "drain_timeout", DEFAULT_DRAIN_TIMEOUT, |ctx, n| {
        ctx.duration(n, false)
    });
    let ws_idle_timeout = ctx.field(
        &table,
        "ws_idle_timeout",
        DEFAULT_WS_IDLE_TIMEOUT,
        |ctx, n| ctx.duration(n, false),
    );
    let health = ctx.field(&table, "health", None, |ctx, n| {
        health::health(ctx, n).map(Some)
    });
    let outlier = ctx.field(
        &table,
        "outlier",
        OutlierConfig::default(),
        outlier::outlier,
    );
    let autoscale = match (table.get("autoscale"), drain_timeout) {
        (Some(n), Some(drain)) => autoscale::autoscale(ctx, &n, drain).map(Some),
        (Some(_), None) => None,
        (None, _) => Some(None),
    };

    let sticky = ctx.field(&table, "sticky", None, |ctx, n| {
        crate::sticky::sticky(ctx, n).map(Some)
    });

    Some(UpstreamConfig {
        name: name.to_string(),
        algorithm: algorithm?,
        backends: backends?,
        hash_key: hash_key?,
        hash_balance_factor: hash_balance_factor?,
        virtual_nodes: virtual_nodes?,
        maglev_table_size: maglev_table_size?,
        connect_timeout: connect_timeout?,
        response_timeout: response_timeout?,
        retries: retries?,
        retry_backoff: retry_backoff?,
        keepalive_timeout: keepalive_timeout?,
        max_idle_connections: max_idle_connections?,
        protocol: protocol?,
        tls: tls?,
        health: health?,
        outlier: outlier?,
        panic_threshold: panic_threshold?,
        slow_start: slow_start?,
        drain_timeout: drain_timeout?,
        ws_idle_timeout: ws_idle_timeout?,
        sticky: sticky?,
        autoscale: autoscale?,
    })
}

/// A list of distinct backends, non-empty unless `may_be_empty` (autoscaled upstreams).
fn backends(ctx: &mut Ctx, node: &Node<'_, '_>, may_be_empty: bool) -> Option<Vec<BackendConfig>> {
    let items = ctx.array(node)?;
    if items.is_empty() && !may_be_empty {
        ctx.error_at(node, "backends is empty: list at least one address");
        return None;
    }
    // Duplicates are found by address even when an entry has other errors (a bad weight),
    // so fixing one problem does not reveal another on the next run.
    let mut seen: Vec<(SocketAddr, usize)> = Vec::new();
    let mut parsed = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let (addr, weight) = backend(ctx, item);
        if let Some(addr) = addr {
            match seen.iter().find(|(seen, _)| *seen == addr) {
                Some((_, first)) => ctx.error_at(
                    item,
                    format!("{addr} is listed twice (first at backends[{first}])"),
                ),
                None => seen.push((addr, i)),
            }
        }
        parsed.push(
            addr.zip(weight)
                .map(|(addr, weight)| BackendConfig { addr, weight }),
        );
    }
    all(parsed)
}

/// `"127.0.0.1:9001"` or `{ addr = "127.0.0.1:9001", weight = 3 }`.
/// Returns the address and the weight, each `None` when invalid, so the caller can look for
/// duplicate addresses whatever the weight.
fn backend(ctx: &mut Ctx, node: &Node<'_, '_>) -> (Option<SocketAddr>, Option<u32>) {
    match node.value {
        DeValue::String(_) => (backend_addr(ctx, node), Some(1)),
        DeValue::Table(_) => {
            let Some(table) = ctx.table(node) else {
                return (None, None);
            };
            table.check_keys(ctx, BACKEND_KEYS);
            let addr = ctx.required(
                &table,
                "addr",
                "the backend's address, e.g. \"127.0.0.1:9001\"",
                backend_addr,
            );
            let weight = ctx.field(&table, "weight", 1, |ctx, n| {
                ctx.u32(n, 1..=MAX_BACKEND_WEIGHT)
            });
            (addr, weight)
        }
        _ => {
            ctx.type_error(
                node,
                "an address like \"127.0.0.1:9001\" or a table { addr, weight }",
            );
            (None, None)
        }
    }
}

fn backend_addr(ctx: &mut Ctx, node: &Node<'_, '_>) -> Option<SocketAddr> {
    let addr = ctx.socket_addr(node)?;
    if addr.port() == 0 {
        ctx.error_at(node, format!("{addr}: port 0 cannot be connected to"));
        return None;
    }
    Some(addr)
}

/// A prime (maglev's permutation needs it), in range, and at least one slot per backend.
fn maglev_table_size(ctx: &mut Ctx, node: &Node<'_, '_>, backends: usize) -> Option<u32> {
    let size = ctx.u32(node, MAGLEV_TABLE_SIZE_RANGE)?;
    if !is_prime(size) {
        ctx.error_at(
            node,
            format!("{size} is not a prime (maglev needs one; e.g. 65537, 131071 or 1000003)"),
        );
        return None;
    }
    if (size as usize) < backends {
        ctx.error_at(
            node,
            format!("{size} is smaller than the number of backends ({backends})"),
        );
        return None;
    }
    Some(size)
}

/// Refuses a ring so large that building it would stall a reload and eat memory.
fn check_ring_size(
    ctx: &mut Ctx,
    table: &Table<'_, '_>,
    backends: &[BackendConfig],
    virtual_nodes: u32,
) {
    let weights: u64 = backends.iter().map(|b| u64::from(b.weight)).sum();
    let points = weights.saturating_mul(u64::from(virtual_nodes));
    if points > MAX_RING_POINTS {
        ctx.error(
            &table.path,
            &table.span,
            format!(
                "ring_hash ring would have {points} points (total weight {weights} × \
                 virtual_nodes {virtual_nodes}), more than {MAX_RING_POINTS}: lower the weights \
                 or virtual_nodes"
            ),
        );
    }
}

pub(crate) fn is_prime(n: u32) -> bool {
    if n < 2 {
        return false;
    }
    let n = u64::from(n);
    let mut d = 2u64;
    while d * d <= n {
        if n % d == 0 {
            return false;
        }
        d += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primes() {
        let primes: Vec<u32> = (0..30).filter(|&n| is_prime(n)).collect();
        assert_eq!(primes, [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]);
        assert!(is_prime(65_537));
        assert!(is_prime(1_000_003));
        assert!(is_prime(*MAGLEV_TABLE_SIZE_RANGE.end()));
        assert!(!is_prime(65_536));
        assert!(!is_prime(1_000_001));
        assert!(is_prime(*MAGLEV_TABLE_SIZE_RANGE.start()));
    }
}
