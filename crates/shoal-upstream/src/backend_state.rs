use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shoal_balance::PeakEwma;
use shoal_core::loop_clock;
use shoal_health::{BackendStatus, Outcome};
use shoal_metrics::{Counter, Histogram};
use tokio::sync::mpsc::UnboundedSender;

use crate::clock::now_ns;
use crate::connect_error::ConnectError;
use crate::h1::BackendConn;
use crate::h2::{H2Conn, H2Pool, StreamSlot};
use crate::latency_histogram::LatencyHistogram;
use crate::transport::Transport;
use crate::tunnels::{CloseSignal, Tunnels};

/// [`BackendState::set_latency_uses`] bits: who reads the measured latency.
const MEASURE_EWMA: u8 = 1;
const MEASURE_HISTOGRAM: u8 = 2;

/// Latency assumed for a backend with no measurements yet (Linkerd uses a similar default):
/// high enough that a fresh backend does not attract a flood before it is measured.
const DEFAULT_RTT_NS: u64 = 1_000_000;
/// Peak-EWMA decay window (Finagle/Linkerd default 10 s).
const EWMA_DECAY_NS: u64 = 10_000_000_000;

/// The live state of one backend, shared by every worker thread and carried from one config
/// snapshot to the next as long as the backend stays in its upstream.
#[derive(Debug)]
pub struct BackendState {
    addr: SocketAddr,
    key: String,
    upstream: String,
    weight: AtomicU32,
    /// [`BackendStatus`] as a u8, published by the health supervisor (the one writer).
    status: AtomicU8,
    /// Slow-start factor × 1000, published by the health supervisor.
    weight_permille: AtomicU32,
    /// Consecutive 5xx / gateway failures seen by the data plane since the last success;
    /// reaching the upstream's threshold tells the supervisor, which decides on ejection.
    consecutive_5xx: AtomicU32,
    consecutive_gateway: AtomicU32,
    /// Thresholds of the passive checks; a reload may change them.
    limit_5xx: AtomicU32,
    limit_gateway: AtomicU32,
    events: Option<UnboundedSender<HealthEvent>>,
    in_flight: AtomicU32,
    requests: AtomicU64,
    failures: AtomicU64,
    ewma: Mutex<PeakEwma>,
    /// Who needs the time to the response head besides `/metrics`: p2c_ewma's estimate (a
    /// lock), the autoscaler's p95 histogram, both or neither.
    measure: AtomicU8,
    /// Times to the response head, for a `p95_latency` autoscale target.
    latency: LatencyHistogram,
    /// What `/metrics` reads; see [`BackendStats`].
    stats: BackendStats,
    /// Idle keep-alive connections, one list per worker so workers never share a connection
    /// (nor contend on the list).
    idle: Box<[Mutex<Vec<IdleConn>>]>,
    /// WebSocket tunnels open to this backend, for paced closing when it drains.
    tunnels: Tunnels,
    /// HTTP/2 connections (`protocol = "h2"`), shared by requests, per worker as well.
    h2: H2Pool,
}

#[derive(Debug)]
struct IdleConn {
    conn: BackendConn,
    since: Instant,
}

/// A connection to a backend taken from its pool (or newly made). It goes back through
/// [`BackendState::release_conn`] once its response has been read to the end (the response
/// body does that); dropped otherwise.
#[derive(Debug)]
pub struct PooledConn {
    pub conn: BackendConn,
    /// True when the connection had served a request before: a failure on it may be the
    /// backend's keep-alive timeout racing with us, which is worth one retry.
    pub reused: bool,
}

/// A backend's counters for `/metrics`: relaxed atomics and lock-free histograms, written
/// where the outcome of an attempt is known, never behind a lock.
#[derive(Debug, Default)]
pub struct BackendStats {
    /// Response heads received, by status class (index 0..=4 = 1xx..=5xx).
    pub responses: [Counter; 5],
    /// From the request being handed to the connection to its response head.
    pub response_time: Histogram,
    /// Opening a new HTTP/1.1 connection: TCP connect, plus the TLS handshake when the
    /// upstream uses TLS. Reused keep-alive connections are not counted.
    pub connect_time: Histogram,
    /// New connections (HTTP/1.1 or HTTP/2, TLS included) that could not be opened.
    pub connect_failures: Counter,
    /// Attempts sent to this backend that were not their request's first attempt (another
    /// backend failed first, or a reused connection did).
    pub retries: Counter,
}

/// Passive-check thresholds and where to report reaching them.
#[derive(Debug, Clone, Default)]
pub struct PassiveLimits {
    pub consecutive_5xx: u32,
    pub consecutive_gateway_failures: u32,
    pub events: Option<UnboundedSender<HealthEvent>>,
}

/// A data-plane observation the health supervisor must act on.
#[derive(Debug, Clone)]
pub struct HealthEvent {
    pub upstream: String,
    pub addr: SocketAddr,
    pub outcome: Outcome,
}

/// Counts one request against a backend's in-flight number until dropped.
#[derive(Debug)]
pub struct InFlight {
    backend: Arc<BackendState>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.backend.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One WebSocket tunnel's place among its backend's open tunnels, held for the tunnel's
/// life; see [`crate::tunnels`].
#[derive(Debug)]
pub struct OpenTunnel {
    backend: Arc<BackendState>,
    id: u64,
    signal: Arc<CloseSignal>,
}

impl OpenTunnel {
    /// Resolves when a drain wants this tunnel closed (see [`CloseSignal::wait`]).
    pub async fn close_requested(&self) {
        self.signal.wait().await;
    }

    /// Counts this tunnel among those its backend's drain closed.
    pub fn closed_by_drain(&self) {
        self.backend.tunnels.count_drain_close();
    }
}

impl Drop for OpenTunnel {
    fn drop(&mut self) {
        if self.backend.tunnels.remove(self.id) {
            tracing::info!(
                upstream = %self.backend.upstream,
                backend = %self.backend.addr,
                closed_by_drain = self.backend.tunnels.closed_by_drain(),
                "every WebSocket tunnel of the draining backend is closed"
            );
        }
    }
}

impl BackendState {
    pub fn new(
        upstream: &str,
        addr: SocketAddr,
        weight: u32,
        workers: usize,
        status: BackendStatus,
        passive: PassiveLimits,
    ) -> BackendState {
        BackendState {
            addr,
            key: addr.to_string(),
            upstream: upstream.to_string(),
            weight: AtomicU32::new(weight),
            status: AtomicU8::new(status.as_u8()),
            weight_permille: AtomicU32::new(1000),
            consecutive_5xx: AtomicU32::new(0),
            consecutive_gateway: AtomicU32::new(0),
            limit_5xx: AtomicU32::new(passive.consecutive_5xx),
            limit_gateway: AtomicU32::new(passive.consecutive_gateway_failures),
            events: passive.events,
            in_flight: AtomicU32::new(0),
            requests: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            ewma: Mutex::new(PeakEwma::starting_at(
                DEFAULT_RTT_NS,
                EWMA_DECAY_NS,
                now_ns(),
            )),
            measure: AtomicU8::new(MEASURE_EWMA),
            latency: LatencyHistogram::default(),
            stats: BackendStats::default(),
            idle: (0..workers.max(1))
                .map(|_| Mutex::new(Vec::new()))
                .collect(),
            tunnels: Tunnels::default(),
            h2: H2Pool::new(workers),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The backend's stable identity for hashing balancers: its address as text.
    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn weight(&self) -> u32 {
        self.weight.load(Ordering::Relaxed)
    }

    pub fn set_weight(&self, weight: u32) {
        self.weight.store(weight, Ordering::Relaxed);
    }

    /// The weight balancers use now: the configured weight lowered by slow start (never
    /// below 1, so a warming backend still gets a trickle).
    pub fn effective_weight(&self) -> u32 {
        self.scaled_effective_weight(1)
    }

    /// [`Self::effective_weight`] in units of 1/`scale` of a configured weight unit, so a
    /// backend of weight 1 at 10% slow start is 10 of 100, not rounded up to a full 1.
    pub fn scaled_effective_weight(&self, scale: u32) -> u32 {
        let full = u64::from(self.weight()) * u64::from(scale);
        let permille = u64::from(self.weight_permille.load(Ordering::Relaxed).min(1000));
        u32::try_from(full * permille / 1000)
            .unwrap_or(u32::MAX)
            .max(1)
    }

    /// The slow-start factor published last (1.0 outside slow start).
    pub fn weight_factor(&self) -> f64 {
        f64::from(self.weight_permille.load(Ordering::Relaxed).min(1000)) / 1000.0
    }

    /// The status the health supervisor last published.
    pub fn status(&self) -> BackendStatus {
        BackendStatus::from_u8(self.status.load(Ordering::Relaxed)).unwrap_or(BackendStatus::Down)
    }

    /// Publishes a new status and slow-start factor (health supervisor only).
    pub fn publish(&self, status: BackendStatus, weight_factor: f64) {
        self.status.store(status.as_u8(), Ordering::Relaxed);
        let permille = (weight_factor.clamp(0.0, 1.0) * 1000.0).round() as u32;
        self.weight_permille.store(permille, Ordering::Relaxed);
        if status == BackendStatus::Down {
            self.close_idle();
        }
    }

    /// Whether the balancer may pick this backend in normal operation.
    pub fn is_eligible(&self) -> bool {
        self.status().is_eligible()
    }

    /// Whether it may be picked when the upstream is in panic mode.
    pub fn accepts_panic_traffic(&self) -> bool {
        self.status().accepts_panic_traffic()
    }

    /// Records how a response went, for passive checks. Cheap when all is well: a success
    /// only reads the counters.
    pub fn report(&self, outcome: Outcome) {
        let (limit_5xx, limit_gw) = (
            self.limit_5xx.load(Ordering::Relaxed),
            self.limit_gateway.load(Ordering::Relaxed),
        );
        let reached = match outcome {
            Outcome::Success => {
                if self.consecutive_5xx.load(Ordering::Relaxed) != 0 {
                    self.consecutive_5xx.store(0, Ordering::Relaxed);
                }
                if self.consecutive_gateway.load(Ordering::Relaxed) != 0 {
                    self.consecutive_gateway.store(0, Ordering::Relaxed);
                }
                false
            }
            Outcome::ServerError => {
                self.consecutive_gateway.store(0, Ordering::Relaxed);
                let n = self.consecutive_5xx.fetch_add(1, Ordering::Relaxed) + 1;
                limit_5xx > 0 && n >= limit_5xx
            }
            // Envoy counts a gateway failure as a 5xx too.
            Outcome::GatewayFailure => {
                let n5 = self.consecutive_5xx.fetch_add(1, Ordering::Relaxed) + 1;
                let ng = self.consecutive_gateway.fetch_add(1, Ordering::Relaxed) + 1;
                (limit_5xx > 0 && n5 >= limit_5xx) || (limit_gw > 0 && ng >= limit_gw)
            }
        };
        if reached {
            if let Some(events) = &self.events {
                let _ = events.send(HealthEvent {
                    upstream: self.upstream.clone(),
                    addr: self.addr,
                    outcome,
                });
            }
        }
    }

    /// Applies (reloaded) passive-check thresholds; 0 disables one.
    pub fn set_passive_limits(&self, consecutive_5xx: u32, consecutive_gateway_failures: u32) {
        self.limit_5xx.store(consecutive_5xx, Ordering::Relaxed);
        self.limit_gateway
            .store(consecutive_gateway_failures, Ordering::Relaxed);
    }

    /// Starts counting consecutive failures afresh (after an ejection).
    pub fn reset_passive(&self) {
        self.consecutive_5xx.store(0, Ordering::Relaxed);
        self.consecutive_gateway.store(0, Ordering::Relaxed);
    }

    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Marks the start of a request to this backend; the count drops when the guard does.
    pub fn start_request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
        InFlight {
            backend: Arc::clone(self),
        }
    }

    /// Records a failed attempt (connect error, reset, timeout).
    pub fn record_failure(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a response head: its status class and how long it took (from sending the
    /// request), and feeds the latency estimate and histogram that asked for it (see
    /// [`BackendState::record_latency`]).
    #[inline]
    pub fn record_response(&self, status: u16, elapsed: Duration) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        if let Some(counter) = self.stats.responses.get(class) {
            counter.inc();
        }
        self.stats.response_time.observe(elapsed);
        self.record_latency(elapsed);
    }

    /// Counts an attempt on this backend that is a retry of its request.
    #[inline]
    pub fn record_retry(&self) {
        self.stats.retries.inc();
    }

    /// The counters `/metrics` shows.
    pub fn stats(&self) -> &BackendStats {
        &self.stats
    }

    /// Says who reads measured latencies (the registry sets it from the upstream's config:
    /// `ewma` for p2c_ewma, `histogram` for a p95_latency autoscale target).
    pub fn set_latency_uses(&self, ewma: bool, histogram: bool) {
        let bits =
            if ewma { MEASURE_EWMA } else { 0 } | if histogram { MEASURE_HISTOGRAM } else { 0 };
        self.measure.store(bits, Ordering::Relaxed);
    }

    /// Whether the peak-EWMA estimate or the p95 histogram want this backend's latencies.
    pub fn measures_latency(&self) -> bool {
        self.measure.load(Ordering::Relaxed) != 0
    }

    /// Records the time to a response head: into the peak-EWMA estimate and/or the
    /// histogram, as [`BackendState::set_latency_uses`] says.
    pub fn record_latency(&self, rtt: Duration) {
        let measure = self.measure.load(Ordering::Relaxed);
        if measure & MEASURE_HISTOGRAM != 0 {
            self.latency.record(rtt);
        }
        if measure & MEASURE_EWMA != 0 {
            let rtt_ns = u64::try_from(rtt.as_nanos()).unwrap_or(u64::MAX);
            if let Ok(mut ewma) = self.ewma.lock() {
                ewma.observe(rtt_ns, now_ns());
            }
        }
    }

    /// The response-time histogram (filled only while a p95_latency target asks for it).
    pub fn latency_histogram(&self) -> &LatencyHistogram {
        &self.latency
    }

    /// The peak-EWMA latency estimate in nanoseconds.
    pub fn latency_cost(&self) -> f64 {
        match self.ewma.lock() {
            Ok(ewma) => ewma.estimate(now_ns()),
            Err(_) => DEFAULT_RTT_NS as f64,
        }
    }

    /// A connection for `worker` made by `transport`: the most recently used idle one that is
    /// still open, else (or when `fresh`) a new one.
    pub async fn conn(
        &self,
        worker: usize,
        fresh: bool,
        transport: &Transport,
        connect_timeout: Duration,
        keepalive_timeout: Duration,
    ) -> Result<PooledConn, ConnectError> {
        if !fresh {
            if let Some(conn) = self.take_idle(worker, transport.id(), keepalive_timeout) {
                return Ok(PooledConn { conn, reused: true });
            }
        } else {
            // The caller distrusts this backend's idle connections: close them.
            if let Some(slot) = self.idle.get(worker % self.idle.len()) {
                if let Ok(mut idle) = slot.lock() {
                    idle.clear();
                }
            }
        }
        let started = Instant::now();
        // Boxed: a connect (TLS handshake included) is kilobytes of future state, and every
        // request's future would carry it; reused connections, the common case, never get here.
        let connect = Box::pin(BackendConn::connect(transport, self.addr, connect_timeout));
        let conn = match connect.await {
            Ok(conn) => conn,
            Err(e) => {
                self.stats.connect_failures.inc();
                return Err(e);
            }
        };
        self.stats.connect_time.observe(started.elapsed());
        Ok(PooledConn {
            conn,
            reused: false,
        })
    }

    /// A stream for `worker` on an HTTP/2 connection made by `transport`: on one with room
    /// under the backend's concurrent-stream limit, else on a new connection.
    pub async fn h2_stream(
        &self,
        worker: usize,
        transport: &Transport,
        connect_timeout: Duration,
        keepalive_timeout: Duration,
    ) -> Result<(H2Conn, StreamSlot), ConnectError> {
        let stream = self
            .h2
            .stream(
                worker,
                transport,
                self.addr,
                connect_timeout,
                keepalive_timeout,
            )
            .await;
        if stream.is_err() {
            self.stats.connect_failures.inc();
        }
        stream
    }

    /// Open HTTP/2 connections to this backend, all workers (for tests and the admin API).
    pub fn h2_connections(&self) -> usize {
        self.h2.connections()
    }

    fn take_idle(
        &self,
        worker: usize,
        transport: u64,
        keepalive_timeout: Duration,
    ) -> Option<BackendConn> {
        let slot = self.idle.get(worker % self.idle.len())?;
        let mut idle = slot.lock().ok()?;
        while let Some(mut entry) = idle.pop() {
            if loop_clock::now().saturating_duration_since(entry.since) > keepalive_timeout {
                // The newest is too old, so are the rest: drop them all (closing them).
                idle.clear();
                return None;
            }
            // Made under settings a reload has since replaced (cleartext, another CA): never
            // reused, closed here.
            if entry.conn.transport_id() != transport {
                continue;
            }
            if !entry.conn.is_stale() {
                return Some(entry.conn);
            }
        }
        None
    }

    /// Returns a connection whose last response was read completely, so it can serve the
    /// next request. Beyond `max_idle` idle connections for this worker, it is closed instead.
    pub fn release_conn(&self, worker: usize, conn: BackendConn, max_idle: usize) {
        let Some(slot) = self.idle.get(worker % self.idle.len()) else {
            return;
        };
        if let Ok(mut idle) = slot.lock() {
            if idle.len() < max_idle {
                idle.push(IdleConn {
                    conn,
                    since: loop_clock::now(),
                });
            }
        }
    }

    /// Idle connections held for all workers (for tests and the admin API).
    pub fn idle_connections(&self) -> usize {
        self.idle
            .iter()
            .map(|slot| slot.lock().map(|v| v.len()).unwrap_or(0))
            .sum()
    }

    /// Registers a WebSocket tunnel to this backend (the caller also holds an [`InFlight`]:
    /// a tunnel is a request that lasts).
    pub fn open_tunnel(self: &Arc<Self>) -> OpenTunnel {
        let (id, signal) = self.tunnels.open();
        OpenTunnel {
            backend: Arc::clone(self),
            id,
            signal,
        }
    }

    /// Closes this backend's open tunnels spread evenly over `window`, starting now (a
    /// drain, a removal, a shutdown); tunnels opening meanwhile close at once. Logs and
    /// returns how many were scheduled; tunnels already scheduled keep their time.
    pub fn close_tunnels_paced(&self, window: Duration) -> usize {
        let n = self.tunnels.close_paced(window, Instant::now());
        if n > 0 {
            tracing::info!(
                upstream = %self.upstream,
                backend = %self.addr,
                tunnels = n,
                over = ?window,
                "closing the backend's WebSocket tunnels, paced"
            );
        }
        n
    }

    /// Cancels [`Self::close_tunnels_paced`] (the backend was enabled again).
    pub fn cancel_tunnel_closes(&self) {
        self.tunnels.cancel_close();
    }

    /// WebSocket tunnels open to this backend now.
    pub fn tunnels_open(&self) -> usize {
        self.tunnels.open_count()
    }

    /// WebSocket tunnels closed because this backend drained (or shoal shut down).
    pub fn tunnels_closed_by_drain(&self) -> u64 {
        self.tunnels.closed_by_drain()
    }

    /// Closes every idle connection (a backend leaving, or going down). HTTP/2 connections
    /// are let go: streams under way finish, then they close.
    pub fn close_idle(&self) {
        for slot in self.idle.iter() {
            if let Ok(mut idle) = slot.lock() {
                idle.clear();
            }
        }
        self.h2.clear();
    }
}
