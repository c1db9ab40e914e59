//! The validated config: what the rest of shoal consumes. Every field here has already been
//! checked; defaults are filled in. See docs/config.md for the user-facing description.

use std::net::SocketAddr;
use std::path::PathBuf;
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
    /// `[admin]`; absent = no admin API.
    pub admin: Option<AdminConfig>,
    /// `[filters.NAME]` (gateway filters), in the order the file declares them.
    pub filters: Vec<crate::FilterConfig>,
    /// `[access_log]`; absent = no access log.
    pub access_log: Option<AccessLogConfig>,
}

/// `[access_log]`: one line per finished request.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessLogConfig {
    /// `path = "stdout"` (the default) or a file, relative to the config file's directory;
    /// a file is opened for appending and reopened on SIGUSR1 (log rotation).
    pub target: AccessLogTarget,
    /// `format = "json" | "combined"`, default json.
    pub format: AccessLogFormat,
    /// Fraction of requests logged, 0.0..=1.0, default 1.0. Responses with status >= 500 are
    /// always logged.
    pub sample: f64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLogTarget {
    Stdout,
    File(std::path::PathBuf),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessLogFormat {
    /// One JSON object per line.
    Json,
    /// Apache/nginx "combined", with shoal's fields appended (request id, upstream, backend,
    /// durations).
    Combined,
}

/// `[admin]`: the operator's HTTP API (and later the dashboard and /metrics).
#[derive(Debug, Clone, PartialEq)]
pub struct AdminConfig {
    /// Default `127.0.0.1:9090`. A non-loopback address requires `token_file`.
    pub bind: SocketAddr,
    /// File holding the bearer token every request must present (trimmed of whitespace).
    /// Read when the config is loaded; must exist and be non-empty.
    pub token_file: Option<std::path::PathBuf>,
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

/// The protocol a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerProtocol {
    /// HTTP/1.1, and HTTP/2 cleartext with prior knowledge, on the same socket.
    Http,
    /// HTTP/1.1 and HTTP/2 over TLS (chosen by ALPN), terminated here with the certificates
    /// of `tls`.
    Https,
    /// Plain TCP (L4): every connection is proxied byte for byte to a backend of `upstream`.
    Tcp,
    /// TLS left encrypted (L4): the ClientHello's server name picks the upstream (`sni`,
    /// else `upstream`), then bytes are relayed like `tcp`.
    TlsPassthrough,
}

impl ListenerProtocol {
    /// The spelling in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            ListenerProtocol::Http => "http",
            ListenerProtocol::Https => "https",
            ListenerProtocol::Tcp => "tcp",
            ListenerProtocol::TlsPassthrough => "tls_passthrough",
        }
    }

    /// Relays bytes (tcp, tls_passthrough) rather than serving HTTP.
    pub fn is_l4(self) -> bool {
        matches!(
            self,
            ListenerProtocol::Tcp | ListenerProtocol::TlsPassthrough
        )
    }
}

/// One entry of a tls_passthrough listener's `sni` table: `"shop.example.com" = "shop"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SniRoute {
    /// Exact or `*.` wildcard, lower-case (the same rules as a route's `host`).
    pub host: HostMatch,
    pub upstream: String,
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

/// A PROXY protocol version (HAProxy's specification).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyProtocol {
    V1,
    V2,
}

/// `[listeners.NAME]`
#[derive(Debug, Clone, PartialEq)]
pub struct ListenerConfig {
    pub name: String,
    pub bind: SocketAddr,
    pub protocol: ListenerProtocol,
    /// `x_forwarded_for = "append" | "replace"`, default append. HTTP only (tcp: the default,
    /// unused).
    pub x_forwarded_for: ForwardedFor,
    /// Time a client has to send a complete request head; past it: 408. Default 10s.
    /// tcp and tls_passthrough: the time to send the PROXY header (`accept_proxy_protocol`)
    /// and the ClientHello (tls_passthrough); past it the connection is closed.
    pub header_read_timeout: Duration,
    /// http: how long an idle keep-alive client connection is kept open. tcp: a connection
    /// with no bytes either way for this long is closed. Default 60s.
    pub idle_timeout: Duration,
    /// Largest request head (request line + headers) accepted; larger: 431. Default 64 KiB.
    /// HTTP only (tcp: the default, unused).
    pub max_header_bytes: usize,
    /// In file order. Precedence is decided by the router (most specific wins, ties in file
    /// order), not by this order alone. http: non-empty; tcp: always empty.
    pub routes: Vec<RouteConfig>,
    /// `protocol = "tcp"`: the upstream every connection goes to (required for tcp, refused
    /// for http). tls_passthrough: the upstream for a server name no `sni` entry matches (and
    /// for a ClientHello without one); absent = such connections are refused.
    pub upstream: Option<String>,
    /// tls_passthrough: server name → upstream, exact names before wildcards. Empty otherwise.
    pub sni: Vec<SniRoute>,
    /// `accept_proxy_protocol = { trusted = [CIDR, ...] }` (tcp, tls_passthrough): peers in
    /// these networks must start with a PROXY header (v1 or v2), whose source address then
    /// stands for the client; a PROXY header from any other peer closes the connection.
    /// None (the default) = PROXY headers are not read (they reach the backend as data).
    pub accept_proxy_protocol: Option<Vec<shoal_core::Cidr>>,
    /// At most this many client connections at once on this listener (per listener, all workers); None = unlimited. `max_connections = 5000`, 1..=1_000_000.
    pub max_connections: Option<usize>,
    /// tcp listeners: send a PROXY protocol header (v1 text or v2 binary) to the backend
    /// first, so it learns the client's address. None (the default) = off.
    pub proxy_protocol: Option<ProxyProtocol>,
    /// `[listeners.NAME.tls]`: required for https listeners, refused for the others.
    pub tls: Option<ListenerTlsConfig>,
    /// http listeners: answer every request with a 308 to the same URL over https.
    /// None (the default) = serve the routes.
    pub redirect_https: Option<RedirectHttps>,
}

/// `[listeners.NAME.tls]` of an https listener.
#[derive(Debug, Clone, PartialEq)]
pub struct ListenerTlsConfig {
    /// Non-empty. The client's SNI picks the certificate whose subjectAltName DNS names
    /// match it (exact names before wildcards, earlier certificates first); the first
    /// certificate serves clients whose SNI matches none, or who send none.
    pub certificates: Vec<ListenerCertificate>,
    /// CA bundle client certificates must chain to (mTLS); None = no client certificates.
    pub client_ca: Option<std::path::PathBuf>,
    /// With `client_ca`: whether a client must present a certificate. Default required.
    pub client_auth: ClientAuth,
    /// A client must complete the TLS handshake within this; past it the connection is
    /// closed. Default 10s.
    pub handshake_timeout: Duration,
}

/// One `{ cert = "...", key = "..." }` of `certificates`. Relative paths are resolved
/// against the config file's directory by [`Config::load`] (kept as written by
/// [`Config::from_toml_str`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerCertificate {
    /// PEM chain, leaf first.
    pub cert: std::path::PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC) of the leaf.
    pub key: std::path::PathBuf,
}

/// `client_auth = "required" | "optional"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// A client without a certificate from `client_ca` fails the handshake.
    #[default]
    Required,
    /// A client may present no certificate; one that presents a certificate not from
    /// `client_ca` still fails the handshake.
    Optional,
}

/// `redirect_https = true` or `redirect_https = { port = 8443 }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedirectHttps {
    /// The port written into `Location`; None = none written (the https default, 443).
    pub port: Option<u16>,
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
    /// `filters = ["a", "b"]`: gateway filters run in this order; each names a
    /// `[filters.NAME]`. Empty = none (the plain proxy path).
    pub filters: Vec<String>,
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
    /// In file order. No duplicate addresses; non-empty unless `autoscale` is set.
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
    /// `protocol = "http1" | "h2"`: how requests travel to the backends. Default http1.
    pub protocol: UpstreamProtocol,
    /// `tls = { ca, server_name, client_cert, client_key }`: TLS to the backends, verified
    /// against `ca`. None (the default) = cleartext.
    pub tls: Option<UpstreamTls>,
    /// `[upstreams.NAME.health]`: active checks; absent = none (backends are ready as soon
    /// as they are configured, and only passive checks judge them).
    pub health: Option<HealthConfig>,
    /// `[upstreams.NAME.outlier]`: passive checks from live traffic; always present
    /// (defaults apply when the table is absent).
    pub outlier: OutlierConfig,
    /// Percent (0..=100) of backends that must be eligible; below it, requests spread over
    /// all non-disabled backends (panic mode). 0 disables. Default 50.
    pub panic_threshold: u32,
    /// Effective weight of a warming backend ramps from 10% to 100% over this window.
    /// None (the default) = no slow start.
    pub slow_start: Option<Duration>,
    /// How long a draining backend's in-flight requests may take before it is removed
    /// anyway. Default 30s. Open WebSocket tunnels of a draining backend are closed spread
    /// over this window.
    pub drain_timeout: Duration,
    /// A WebSocket tunnel with no byte moving either way for this long is closed (HAProxy's
    /// `timeout tunnel`). Default 1h.
    pub ws_idle_timeout: Duration,
    /// `sticky = { cookie, ttl, secret_file }`: session affinity by a signed cookie.
    pub sticky: Option<crate::StickyConfig>,
    /// `[upstreams.NAME.autoscale]`: the fleet grows and shrinks through a provider; absent
    /// = the backends are the static ones (and runtime changes).
    pub autoscale: Option<crate::autoscale::AutoscaleConfig>,
}

/// How an upstream's requests travel to its backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpstreamProtocol {
    /// HTTP/1.1: one request at a time per connection, idle connections pooled.
    #[default]
    Http1,
    /// HTTP/2: requests multiplexed over one connection per backend per worker (more when the
    /// backend's concurrent-stream limit is reached). Without `tls`: cleartext with prior
    /// knowledge (h2c); with `tls`: negotiated by ALPN, and a backend that does not select h2
    /// is a failed connection.
    H2,
}

impl UpstreamProtocol {
    /// The config spelling: `http1` or `h2`.
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamProtocol::Http1 => "http1",
            UpstreamProtocol::H2 => "h2",
        }
    }
}

impl std::fmt::Display for UpstreamProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[upstreams.NAME] tls = { ... }`: TLS from shoal to the backends. Certificates are always
/// verified; there is no setting to turn that off, and no fallback to cleartext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamTls {
    /// PEM bundle of the CA certificates the backends' certificates must chain to (only
    /// these are trusted, not the system's). Relative to the config file's directory.
    pub ca: PathBuf,
    /// The name sent as SNI and checked against the certificate: a DNS name or an IP
    /// address. None = each backend's own IP address (its certificate must then carry that
    /// IP as a subject alternative name).
    pub server_name: Option<String>,
    /// A client certificate for mTLS: `client_cert` and `client_key`, both or neither.
    pub client_identity: Option<TlsIdentity>,
}

/// A certificate chain (PEM, leaf first) and its private key (PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsIdentity {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// What an active check sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthCheckKind {
    /// `GET path` and an expected status.
    Http,
    /// A TCP connect.
    Tcp,
}

/// `[upstreams.NAME.health]`
#[derive(Debug, Clone, PartialEq)]
pub struct HealthConfig {
    /// `kind = "http" | "tcp"`, default http.
    pub kind: HealthCheckKind,
    /// Readiness probe path (http). Default `/health/ready`. Starts with `/`.
    pub path: String,
    /// Optional liveness probe path (http): failing it means `down`, not just `not_ready`.
    pub liveness_path: Option<String>,
    /// Default 5s; each probe is jittered ±10%.
    pub interval: Duration,
    /// Default 1s; must be < interval.
    pub timeout: Duration,
    /// Consecutive successes to become ready. Default 2, 1..=100.
    pub rise: u32,
    /// Consecutive failures to leave ready. Default 3, 1..=100.
    pub fall: u32,
    /// Inclusive range of statuses counted as success, from `"200-399"` or `"200"`.
    /// Default 200..=399.
    pub expect_status: (u16, u16),
    /// Host header for the probe; default: the backend address.
    pub host: Option<String>,
    /// A new backend gets no traffic until its first successful check. Default true.
    pub wait_for_first_check: bool,
}

/// `[upstreams.NAME.outlier]`: passive ejection (Envoy's outlier detection).
#[derive(Debug, Clone, PartialEq)]
pub struct OutlierConfig {
    /// Consecutive 5xx responses that eject a backend. Default 5; 0 disables.
    pub consecutive_5xx: u32,
    /// Consecutive gateway failures (connect refused/reset/timeout) that eject. Default 5;
    /// 0 disables.
    pub consecutive_gateway_failures: u32,
    /// Ejection lasts base × number of ejections so far. Default 30s.
    pub base_ejection_time: Duration,
    /// Cap on one ejection. Default 300s.
    pub max_ejection_time: Duration,
    /// At most this percent (0..=100) of the upstream is ejected at once (at least one
    /// backend always may be). Default 50.
    pub max_ejection_percent: u32,
}

impl Default for OutlierConfig {
    fn default() -> Self {
        OutlierConfig {
            consecutive_5xx: 5,
            consecutive_gateway_failures: 5,
            base_ejection_time: Duration::from_secs(30),
            max_ejection_time: Duration::from_secs(300),
            max_ejection_percent: 50,
        }
    }
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

    /// The filter called `name`.
    pub fn filter(&self, name: &str) -> Option<&crate::FilterConfig> {
        self.filters.iter().find(|f| f.name == name)
    }
}
