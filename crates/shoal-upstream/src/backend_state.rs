use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shoal_balance::PeakEwma;

use crate::clock::now_ns;
use crate::connect_error::ConnectError;
use crate::h1::BackendConn;

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
    weight: AtomicU32,
    in_flight: AtomicU32,
    requests: AtomicU64,
    failures: AtomicU64,
    ewma: Mutex<PeakEwma>,
    /// Idle keep-alive connections, one list per worker so workers never share a connection
    /// (nor contend on the list).
    idle: Box<[Mutex<Vec<IdleConn>>]>,
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

impl BackendState {
    pub fn new(addr: SocketAddr, weight: u32, workers: usize) -> BackendState {
        BackendState {
            addr,
            key: addr.to_string(),
            weight: AtomicU32::new(weight),
            in_flight: AtomicU32::new(0),
            requests: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            ewma: Mutex::new(PeakEwma::starting_at(
                DEFAULT_RTT_NS,
                EWMA_DECAY_NS,
                now_ns(),
            )),
            idle: (0..workers.max(1))
                .map(|_| Mutex::new(Vec::new()))
                .collect(),
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

    /// The weight balancers use now. Health and slow start will lower it; today it is the
    /// configured weight.
    pub fn effective_weight(&self) -> u32 {
        self.weight()
    }

    /// Whether the balancer may pick this backend. Health checks will decide; today every
    /// configured backend is eligible and failures are handled by retrying elsewhere.
    pub fn is_eligible(&self) -> bool {
        true
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

    /// Records the time to a response head, for the peak-EWMA estimate.
    pub fn record_latency(&self, rtt: Duration) {
        let rtt_ns = u64::try_from(rtt.as_nanos()).unwrap_or(u64::MAX);
        if let Ok(mut ewma) = self.ewma.lock() {
            ewma.observe(rtt_ns, now_ns());
        }
    }

    /// The peak-EWMA latency estimate in nanoseconds.
    pub fn latency_cost(&self) -> f64 {
        match self.ewma.lock() {
            Ok(ewma) => ewma.estimate(now_ns()),
            Err(_) => DEFAULT_RTT_NS as f64,
        }
    }

    /// A connection for `worker`: the most recently used idle one that is still open, else
    /// (or when `fresh`) a new one.
    pub async fn conn(
        &self,
        worker: usize,
        fresh: bool,
        connect_timeout: Duration,
        keepalive_timeout: Duration,
    ) -> Result<PooledConn, ConnectError> {
        if !fresh {
            if let Some(conn) = self.take_idle(worker, keepalive_timeout) {
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
        let conn = BackendConn::connect(self.addr, connect_timeout).await?;
        Ok(PooledConn {
            conn,
            reused: false,
        })
    }

    fn take_idle(&self, worker: usize, keepalive_timeout: Duration) -> Option<BackendConn> {
        let slot = self.idle.get(worker % self.idle.len())?;
        let mut idle = slot.lock().ok()?;
        while let Some(entry) = idle.pop() {
            if entry.since.elapsed() > keepalive_timeout {
                // The newest is too old, so are the rest: drop them all (closing them).
                idle.clear();
                return None;
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
                    since: Instant::now(),
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

    /// Closes every idle connection (a backend leaving, or going down).
    pub fn close_idle(&self) {
        for slot in self.idle.iter() {
            if let Ok(mut idle) = slot.lock() {
                idle.clear();
            }
        }
    }
}
