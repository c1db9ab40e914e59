//! The validated config: what the rest of shoal consumes. Every field here has already been
//! checked; defaults are filled in. See docs/config.md for the user-facing description.

use std::net::SocketAddr;
use std::time::Duration;

use shoal_core::{Algorithm, HashKey};

/// A whole, valid config file.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub server: ServerConfig,
    /// In the order the file declares them.
    pub listeners: Vec<ListenerConfig>,
    /// In the order the file declares them.
    pub upstreams: Vec<UpstreamConfig>,
}

/// `[server]`
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Threads serving traffic; each runs its own event loop and accepts on its own socket.
    /// Default: the number of cores.
    pub workers: usize,
    /// On SIGTERM/SIGINT: stop accepting, let in-flight requests finish for at most this long.
    /// Default 30s.
    pub grace_period: Duration,
}

/// The protocol a listener speaks. Later issues add `https`, `tcp`, `tls_passthrough`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerProtocol {
    /// HTTP/1.1, and HTTP/2 cleartext with prior knowledge, on the same socket.
    Http,
}

/// What to do with an incoming `X-Forwarded-For`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForwardedFor {
    /// Keep what the client sent and append the peer address (for shoal behind a trusted hop).
    #[default]
    Append,
    /// Drop what the client sent; the header becomes just the peer address (for an edge).
    Replace,
}

/// `[listeners.NAME]`
#[derive(Debug, Clone, PartialEq)]
pub struct ListenerConfig {
    pub name: String,
    pub bind: SocketAddr,
    pub protocol: ListenerProtocol,
    /// `x_forwarded_for = "append" | "replace"`, default append.
    pub x_forwarded_for: ForwardedFor,
    /// Time a client has to send a complete request head; past it: 408. Default 10s.
    pub header_read_timeout: Duration,
    /// How long an idle keep-alive client connection is kept open. Default 60s.
    pub idle_timeout: Duration,
    /// Largest request head (request line + headers) accepted; larger: 431. Default 64 KiB.
    pub max_header_bytes: usize,
    /// In file order. Precedence is decided by the router (most specific wins, ties in file
    /// order), not by this order alone.
    pub routes: Vec<RouteConfig>,
}

/// `[[listeners.NAME.routes]]`
#[derive(Debug, Clone, PartialEq)]
pub struct RouteConfig {
    /// Position in the listener's `routes` array (0-based): the tie breaker, and how logs and
    /// errors name the route (`listeners.web.routes[2]`).
    pub index: usize,
    /// Absent `match` = matches every request.
    pub matcher: RouteMatch,
    pub target: RouteTarget,
    pub rewrite: Option<Rewrite>,
}

/// `match = { host, path_prefix | path, methods, headers }`; every given part must hold.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RouteMatch {
    pub host: Option<HostMatch>,
    pub path: Option<PathMatch>,
    /// Empty = any method.
    pub methods: Vec<http::Method>,
    /// Header name (lower-case) → exact value. Every pair must be present.
    pub headers: Vec<(http::HeaderName, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostMatch {
    /// `api.example.com` (stored lower-case, no port).
    Exact(String),
    /// `*.example.com`: stored as the suffix `.example.com` (lower-case). Matches
    /// `a.example.com` and `a.b.example.com`, not `example.com`.
    Wildcard(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    /// `path = "/exact"`
    Exact(String),
    /// `path_prefix = "/v1/"`
    Prefix(String),
}

/// Where a matched route sends its requests.
#[derive(Debug, Clone, PartialEq)]
pub enum RouteTarget {
    /// `upstream = "api"`
    Upstream(String),
    /// `split = [{ upstream = "api", weight = 95 }, ...]`; weights > 0, at least one entry.
    Split(Vec<SplitEntry>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitEntry {
    pub upstream: String,
    pub weight: u32,
}

/// `rewrite = { replace_prefix = { from, to } }` or `{ strip_prefix = "/v1" }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rewrite {
    ReplacePrefix { from: String, to: String },
    StripPrefix(String),
}

/// `[upstreams.NAME]`
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamConfig {
    pub name: String,
    /// Default round_robin.
    pub algorithm: Algorithm,
    /// In file order. Non-empty, no duplicate addresses.
    pub backends: Vec<BackendConfig>,
    /// Required by nothing; used by ring_hash and maglev (absent there: client_ip).
    pub hash_key: Option<HashKey>,
    /// Consistent hashing with bounded loads, ring_hash/maglev only; > 1.0.
    pub hash_balance_factor: Option<f64>,
    /// ring_hash: virtual nodes per weight unit. Default 160.
    pub virtual_nodes: u32,
    /// maglev: lookup table size, a prime. Default 65537.
    pub maglev_table_size: u32,
    /// Default 1s.
    pub connect_timeout: Duration,
    /// Time from the request being sent to the response head arriving; past it: 504.
    /// Default 30s.
    pub response_timeout: Duration,
    /// Extra attempts on another backend when safe. Default 2.
    pub retries: u32,
    /// Base of the full-jitter backoff between attempts. Default 25ms (cap 10×).
    pub retry_backoff: Duration,
    /// Idle pooled connections to one backend are closed after this. Default 60s.
    pub keepalive_timeout: Duration,
    /// At most this many idle pooled connections per backend per worker. Default 128.
    pub max_idle_connections: usize,
}

/// One entry of `backends`: `"127.0.0.1:9001"` or `{ addr = "...", weight = 3 }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendConfig {
    pub addr: SocketAddr,
    /// ≥ 1; default 1.
    pub weight: u32,
}

impl Config {
    pub fn upstream(&self, name: &str) -> Option<&UpstreamConfig> {
        self.upstreams.iter().find(|u| u.name == name)
    }
}
