//! [`Readings`]: one scrape's numbers, copied out of the live snapshot, the backends'
//! atomics, the health supervisor, the gateway and the autoscaler. Reading takes no lock the
//! request path takes, except each backend's idle-pool and each rate limit's key-table shards
//! for an instant (to count them); the data plane only ever sees relaxed atomic loads.

use shoal_autoscale::Autoscaler;
use shoal_health::BackendStatus;
use shoal_metrics::HistogramSnapshot;
use shoal_proxy::ProxyHandle;
use shoal_upstream::{BackendState, Upstream};

/// Everything `/metrics` shows, as plain data (so rendering is a pure function of it).
#[derive(Debug, Clone, Default)]
pub struct Readings {
    pub version: &'static str,
    pub listeners: Vec<ListenerReading>,
    pub upstreams: Vec<UpstreamReading>,
    pub filters: Vec<FilterReading>,
    pub autoscalers: Vec<AutoscaleReading>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ListenerReading {
    pub name: String,
    /// Client connections open now, all workers.
    pub open_connections: u64,
    /// An https listener's handshake and certificate-reload counts.
    pub tls: Option<TlsReading>,
    /// Empty for tcp and tls_passthrough listeners, and for a listener a reload removed that
    /// still has connections.
    pub routes: Vec<RouteReading>,
    /// Responses by status class, 1xx..=5xx (HTTP listeners; no route needed).
    pub responses: [u64; 5],
    /// Bytes read from and written to client connections (HTTP listeners, after TLS).
    pub bytes_received: u64,
    pub bytes_sent: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsReading {
    pub handshakes: u64,
    pub handshake_failures: u64,
    pub reloads: u64,
    pub reload_failures: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RouteReading {
    /// `web.routes[2]`.
    pub name: String,
    /// By status class, 1xx..=5xx.
    pub responses: [u64; 5],
    pub duration: HistogramSnapshot,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamReading {
    pub name: String,
    pub panic: bool,
    pub backends: Vec<BackendReading>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BackendReading {
    /// `10.0.0.1:8080`.
    pub addr: String,
    pub status: BackendStatus,
    pub weight: u32,
    /// The weight balancers use now (slow start applied); 0 when not eligible.
    pub effective_weight: f64,
    pub in_flight: u64,
    pub requests: u64,
    pub failures: u64,
    pub connect_failures: u64,
    pub retries: u64,
    /// Outlier-detection ejections, ever; `None` when the health supervisor did not answer.
    pub ejections: Option<u64>,
    /// By status class, 1xx..=5xx.
    pub responses: [u64; 5],
    pub response_time: HistogramSnapshot,
    pub connect_time: HistogramSnapshot,
    /// Idle HTTP/1.1 keep-alive connections in the pool.
    pub idle_connections: u64,
    /// Open HTTP/2 connections (`protocol = "h2"` upstreams).
    pub h2_connections: u64,
    pub tunnels: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterReading {
    pub name: String,
    /// The config's `kind`: `jwt`, `rate_limit`, ...
    pub kind: &'static str,
    /// `(status, count)` for every status the filter refused with at least once, and for
    /// the statuses its kind refuses with (see [`usual_statuses`]), ascending.
    pub denied: Vec<(u16, u64)>,
    /// Refusals with a status not in [`shoal_gateway::DENY_STATUSES`].
    pub denied_other: u64,
    pub answered: u64,
    pub rate_limit: Option<RateReading>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateReading {
    pub keys: u64,
    pub evictions: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoscaleReading {
    pub upstream: String,
    pub min: u32,
    pub max: u32,
    pub current: u32,
    pub desired: u32,
    /// `(action, count)`: `scale_up`, `scale_down`, `none`, `manual`.
    pub decisions: Vec<(&'static str, u64)>,
}

/// The statuses a filter of `kind` refuses with, shown even while 0 so a rate over them
/// exists from the start.
pub fn usual_statuses(kind: &str) -> &'static [u16] {
    match kind {
        "jwt" => &[401, 403],
        "api_key" | "basic_auth" => &[401],
        "rate_limit" => &[429],
        "limits" => &[400, 405, 413, 414, 415, 431],
        "cors" => &[403],
        _ => &[],
    }
}

fn u64_of(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn backend_reading(
    proxy: &ProxyHandle,
    upstream: &Upstream,
    backend: &BackendState,
) -> BackendReading {
    // Blocking: `/metrics` runs on a blocking thread (see `shoal_admin::Control`).
    let health = proxy
        .health()
        .view_blocking(upstream.name(), backend.addr());
    let status = health
        .as_ref()
        .map_or_else(|| backend.status(), |h| h.status);
    let stats = backend.stats();
    BackendReading {
        addr: backend.addr().to_string(),
        status,
        weight: backend.weight(),
        effective_weight: if status.is_eligible() {
            f64::from(backend.weight()) * backend.weight_factor()
        } else {
            0.0
        },
        in_flight: u64::from(backend.in_flight()),
        requests: backend.requests(),
        failures: backend.failures(),
        connect_failures: stats.connect_failures.get(),
        retries: stats.retries.get(),
        ejections: health.map(|h| u64::from(h.ejections)),
        responses: std::array::from_fn(|i| stats.responses[i].get()),
        response_time: stats.response_time.snapshot(),
        connect_time: stats.connect_time.snapshot(),
        idle_connections: u64_of(backend.idle_connections()),
        h2_connections: u64_of(backend.h2_connections()),
        tunnels: u64_of(backend.tunnels_open()),
    }
}

/// Reads everything now. Call it from a blocking thread: it waits for the health
/// supervisor's answer once per backend.
pub fn read(proxy: &ProxyHandle, autoscaler: Option<&Autoscaler>) -> Readings {
    let snapshot = proxy.snapshot();
    let counts = proxy.connection_counts();
    let open = |name: &str| {
        counts
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, c)| u64_of(*c))
    };
    let mut listeners: Vec<ListenerReading> = snapshot
        .listeners
        .iter()
        .map(|l| ListenerReading {
            name: l.config.name.clone(),
            open_connections: open(&l.config.name),
            tls: l.tls.as_ref().map(|t| {
                let s = t.stats();
                TlsReading {
                    handshakes: s.handshakes(),
                    handshake_failures: s.handshake_failures(),
                    reloads: s.reloads(),
                    reload_failures: s.reload_failures(),
                }
            }),
            routes: l
                .routes
                .iter()
                .map(|r| RouteReading {
                    name: r.name.clone(),
                    responses: std::array::from_fn(|i| r.stats.responses[i].get()),
                    duration: r.stats.duration.snapshot(),
                })
                .collect(),
            responses: std::array::from_fn(|i| l.stats.responses[i].get()),
            bytes_received: l.stats.bytes_received.get(),
            bytes_sent: l.stats.bytes_sent.get(),
        })
        .collect();
    // A listener a reload removed, still finishing its connections.
    for (name, count) in &counts {
        if *count > 0 && !listeners.iter().any(|l| &l.name == name) {
            listeners.push(ListenerReading {
                name: name.clone(),
                open_connections: u64_of(*count),
                tls: None,
                routes: Vec::new(),
                responses: [0; 5],
                bytes_received: 0,
                bytes_sent: 0,
            });
        }
    }
    let upstreams = snapshot
        .upstreams
        .iter()
        .map(|u| UpstreamReading {
            name: u.name().to_string(),
            panic: u.in_panic(),
            backends: u
                .backends()
                .iter()
                .map(|b| backend_reading(proxy, u, b))
                .collect(),
        })
        .collect();
    let filters = snapshot
        .gateway
        .filter_stats()
        .into_iter()
        .map(|(name, kind, stats)| {
            let usual = usual_statuses(kind);
            FilterReading {
                name: name.to_string(),
                kind,
                denied: stats
                    .denied_by_status()
                    .filter(|(status, count)| *count > 0 || usual.contains(status))
                    .collect(),
                denied_other: stats.denied_other(),
                answered: stats.answered(),
                rate_limit: snapshot.gateway.rate_state(name).map(|r| RateReading {
                    keys: u64_of(r.table.len()),
                    evictions: r.table.evictions(),
                }),
            }
        })
        .collect();
    let autoscalers = autoscaler
        .map(|a| {
            a.upstreams()
                .into_iter()
                .filter_map(|upstream| {
                    let status = a.status(&upstream)?;
                    let decisions = a.decision_totals(&upstream)?;
                    Some(AutoscaleReading {
                        upstream,
                        min: status.min,
                        max: status.max,
                        current: status.current,
                        desired: status.desired,
                        decisions: decisions.to_vec(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Readings {
        version: env!("CARGO_PKG_VERSION"),
        listeners,
        upstreams,
        filters,
        autoscalers,
    }
}
