//! The compiled config now serving: route tables, resolved route targets and runtime
//! upstreams. Immutable; a reload builds a new one and swaps it in whole, and a request keeps
//! the snapshot it started with.

use std::sync::Arc;

use shoal_config::{Config, ListenerConfig, Rewrite, RouteTarget};
use shoal_gateway::{Chain, GatewaySnapshot, StickyTable};
use shoal_router::{RouteTable, SniTable, Split};
use shoal_upstream::{Upstream, UpstreamRegistry};

use crate::tls::TlsListener;

#[derive(Debug)]
pub struct Snapshot {
    pub listeners: Vec<ListenerSnapshot>,
    pub upstreams: Vec<Arc<Upstream>>,
    /// By upstream index: the sticky-cookie table of a `sticky` upstream.
    pub sticky: Vec<Option<Arc<StickyTable>>>,
    /// The compiled filters (their state: rate-limit tables, key sets).
    pub gateway: GatewaySnapshot,
}

#[derive(Debug)]
pub struct ListenerSnapshot {
    pub config: ListenerConfig,
    pub table: RouteTable,
    /// By route index (the position in the listener's `routes`).
    pub routes: Vec<RouteEntry>,
    /// A tcp listener's upstream; a tls_passthrough listener's default (index into
    /// [`Snapshot::upstreams`]).
    pub tcp_upstream: Option<usize>,
    /// A tls_passthrough listener's server names (values: indices into
    /// [`Snapshot::upstreams`]; the default included).
    pub sni: SniTable,
    /// An https listener's certificates and handshake counters (set by the proxy, which
    /// loads the files, after [`Snapshot::build`]).
    pub tls: Option<Arc<TlsListener>>,
    /// Its counters (`/metrics`), carried over a reload that keeps the listener's name.
    pub stats: Arc<ListenerStats>,
}

#[derive(Debug)]
pub struct RouteEntry {
    /// How logs and error bodies name the route: `web.routes[2]`.
    pub name: String,
    pub target: Target,
    pub rewrite: Option<Rewrite>,
    /// The route's gateway filters; None (the plain path) when it names none.
    pub filters: Option<Arc<Chain>>,
    /// Its request counters and latency histogram (`/metrics`), carried over a reload that
    /// keeps the route's name.
    pub stats: Arc<RouteStats>,
}

/// What a listener counts: responses by status class (404s and 400s included, which no
/// route sees) and the bytes its client connections moved (HTTP listeners; after TLS).
#[derive(Debug, Default)]
pub struct ListenerStats {
    /// Index 0..=4 = 1xx..=5xx.
    pub responses: [shoal_metrics::Counter; 5],
    pub bytes_received: shoal_metrics::Counter,
    pub bytes_sent: shoal_metrics::Counter,
}

impl ListenerStats {
    #[inline]
    pub fn record(&self, status: http::StatusCode) {
        let class = usize::from(status.as_u16() / 100).clamp(1, 5) - 1;
        self.responses[class].inc();
    }
}

/// What a route counts: responses by status class and the time to the response head.
#[derive(Debug, Default)]
pub struct RouteStats {
    /// Index 0..=4 = 1xx..=5xx.
    pub responses: [shoal_metrics::Counter; 5],
    /// From the request head arriving to the response head being ready.
    pub duration: shoal_metrics::Histogram,
}

impl RouteStats {
    /// Counts one response and how long it took.
    #[inline]
    pub fn record(&self, status: http::StatusCode, elapsed: std::time::Duration) {
        let class = usize::from(status.as_u16() / 100).clamp(1, 5) - 1;
        self.responses[class].inc();
        self.duration.observe(elapsed);
    }
}

/// A route's destination, with upstream names resolved to indices into
/// [`Snapshot::upstreams`].
#[derive(Debug)]
pub enum Target {
    Upstream(usize),
    Split { split: Split, upstreams: Vec<usize> },
}

impl Snapshot {
    /// Compiles a validated config. Upstream names were checked by validation; a name that
    /// is still missing makes the route answer 503 rather than panic.
    /// `initial`: the process's first config (see [`UpstreamRegistry::build`]). `gateway`:
    /// the config's compiled filters.
    pub fn build(
        config: &Config,
        registry: &UpstreamRegistry,
        initial: bool,
        gateway: GatewaySnapshot,
    ) -> Snapshot {
        let upstreams: Vec<Arc<Upstream>> = config
            .upstreams
            .iter()
            .map(|u| Arc::new(registry.build(u, initial)))
            .collect();
        let index_of = |name: &str| {
            config
                .upstreams
                .iter()
                .position(|u| u.name == name)
                .unwrap_or(usize::MAX)
        };
        let listeners = config
            .listeners
            .iter()
            .map(|l| ListenerSnapshot {
                table: RouteTable::new(&l.routes),
                routes: l
                    .routes
                    .iter()
                    .map(|r| RouteEntry {
                        name: format!("{}.routes[{}]", l.name, r.index),
                        target: match &r.target {
                            RouteTarget::Upstream(name) => Target::Upstream(index_of(name)),
                            RouteTarget::Split(entries) => Target::Split {
                                split: Split::new(entries),
                                upstreams: entries.iter().map(|e| index_of(&e.upstream)).collect(),
                            },
                        },
                        rewrite: r.rewrite.clone(),
                        filters: gateway.chain(&r.filters),
                        stats: Arc::default(),
                    })
                    .collect(),
                tcp_upstream: l.upstream.as_deref().map(index_of),
                sni: SniTable::new(&l.sni, l.upstream.as_deref().map(index_of), index_of),
                tls: None,
                stats: Arc::default(),
                config: l.clone(),
            })
            .collect();
        Snapshot {
            listeners,
            upstreams,
            sticky: config.upstreams.iter().map(|u| gateway.sticky(u)).collect(),
            gateway,
        }
    }

    /// Takes the route counters of `old` for routes that keep their name, so a reload does
    /// not reset them.
    pub fn inherit_stats(&mut self, old: &Snapshot) {
        for listener in &mut self.listeners {
            let Some(previous) = old.listener(&listener.config.name) else {
                continue;
            };
            listener.stats = Arc::clone(&previous.stats);
            for route in &mut listener.routes {
                if let Some(kept) = previous.routes.iter().find(|r| r.name == route.name) {
                    route.stats = Arc::clone(&kept.stats);
                }
            }
        }
    }

    /// The listener called `name`.
    pub fn listener(&self, name: &str) -> Option<&ListenerSnapshot> {
        self.listeners.iter().find(|l| l.config.name == name)
    }

    /// The listener at `index` if it still has that name, else found by name (listeners can
    /// move in a reloaded file).
    pub fn listener_at(&self, index: usize, name: &str) -> Option<&ListenerSnapshot> {
        match self.listeners.get(index) {
            Some(l) if l.config.name == name => Some(l),
            _ => self.listener(name),
        }
    }
}
