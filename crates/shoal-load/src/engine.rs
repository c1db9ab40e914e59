//! [`run`]: drives a load run on the caller's event loop.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, Method, Request};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::schedule::Schedule;
use crate::stats::{Outcome, Stats, Summary};
use crate::target::Target;

/// Open or closed loop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// Requests per second, sent on schedule whatever the answers do.
    Rate(f64),
    /// Connections, each sending its next request when the previous answer is complete.
    Concurrency(usize),
}

/// How to run.
pub struct LoadOptions {
    pub mode: Mode,
    pub duration: Duration,
    /// A request without a whole answer this long after it was sent is an error.
    pub timeout: Duration,
    /// Open loop: most requests in flight (and so connections) at once; past it, due
    /// requests wait (their latency still counts from their due time).
    pub max_connections: usize,
    /// Called about every second with the progress line.
    pub progress: Option<Box<dyn FnMut(String) + Send>>,
}

type Pool = Arc<Mutex<Vec<SendRequest<Empty<Bytes>>>>>;

/// The plain numbers of [`LoadOptions`] (the progress callback is not shared).
struct Limits {
    duration: Duration,
    timeout: Duration,
    max_connections: usize,
}

/// Runs the load and returns its summary.
pub async fn run(target: &Target, options: LoadOptions) -> Summary {
    let LoadOptions {
        mode,
        duration,
        timeout,
        max_connections,
        progress,
    } = options;
    let limits = Limits {
        duration,
        timeout,
        max_connections,
    };
    let stats = Arc::new(Mutex::new(Stats::default()));
    let start = Instant::now() + Duration::from_millis(5);
    let progress = progress.map(|mut report| {
        let stats = Arc::clone(&stats);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval_at(
                (start + Duration::from_secs(1)).into(),
                Duration::from_secs(1),
            );
            let mut last = start;
            loop {
                ticker.tick().await;
                let now = Instant::now();
                let i = lock(&stats).take_interval();
                let seconds = now.saturating_duration_since(last).as_secs_f64().max(1e-3);
                last = now;
                report(format!(
                    "{:>6.1}s  rate {:>9.1}/s  errors {:>6}  p50 {:>8.2}ms  p99 {:>8.2}ms",
                    now.saturating_duration_since(start).as_secs_f64(),
                    i.requests as f64 / seconds,
                    i.errors,
                    i.p50.as_secs_f64() * 1000.0,
                    i.p99.as_secs_f64() * 1000.0,
                ));
            }
        })
    });
    let last_done = match mode {
        Mode::Rate(rate) => open_loop(target, &limits, rate, start, &stats).await,
        Mode::Concurrency(n) => closed_loop(target, &limits, n, start, &stats).await,
    };
    if let Some(p) = progress {
        p.abort();
    }
    let elapsed = last_done.saturating_duration_since(start).max(duration);
    let summary = lock(&stats).summary(elapsed);
    summary
}

fn lock(stats: &Mutex<Stats>) -> std::sync::MutexGuard<'_, Stats> {
    stats.lock().unwrap_or_else(|e| e.into_inner())
}

/// Returns when the last request finished.
async fn open_loop(
    target: &Target,
    options: &Limits,
    rate: f64,
    start: Instant,
    stats: &Arc<Mutex<Stats>>,
) -> Instant {
    let schedule = Schedule::new(start, rate);
    let total = schedule.count_within(options.duration);
    let pool: Pool = Arc::default();
    let limit = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let last_done = Arc::new(Mutex::new(start));
    let mut tasks = JoinSet::new();
    for i in 0..total {
        let due = schedule.due(i);
        tokio::time::sleep_until(due.into()).await;
        let Ok(permit) = Arc::clone(&limit).acquire_owned().await else {
            break;
        };
        let (pool, target, stats, last_done) = (
            Arc::clone(&pool),
            target.clone(),
            Arc::clone(stats),
            Arc::clone(&last_done),
        );
        let timeout = options.timeout;
        tasks.spawn(async move {
            let outcome = exchange_within(&pool, &target, timeout).await;
            let now = Instant::now();
            // From the intended time: waiting for a permit or a slow schedule counts.
            lock(&stats).record(now.saturating_duration_since(due), outcome);
            let mut last = last_done.lock().unwrap_or_else(|e| e.into_inner());
            *last = (*last).max(now);
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    let last = *last_done.lock().unwrap_or_else(|e| e.into_inner());
    last
}

async fn closed_loop(
    target: &Target,
    options: &Limits,
    connections: usize,
    start: Instant,
    stats: &Arc<Mutex<Stats>>,
) -> Instant {
    tokio::time::sleep_until(start.into()).await;
    let end = start + options.duration;
    let mut tasks = JoinSet::new();
    for _ in 0..connections.max(1) {
        let (target, stats) = (target.clone(), Arc::clone(stats));
        let timeout = options.timeout;
        tasks.spawn(async move {
            let pool: Pool = Arc::default();
            let mut last = Instant::now();
            while Instant::now() < end {
                let sent = Instant::now();
                let outcome = exchange_within(&pool, &target, timeout).await;
                last = Instant::now();
                lock(&stats).record(last.saturating_duration_since(sent), outcome);
                if outcome == Outcome::Connect {
                    // Nothing listening: do not spin.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            last
        });
    }
    let mut last_done = start;
    while let Some(done) = tasks.join_next().await {
        if let Ok(at) = done {
            last_done = last_done.max(at);
        }
    }
    last_done
}

async fn exchange_within(pool: &Pool, target: &Target, timeout: Duration) -> Outcome {
    tokio::time::timeout(timeout, exchange(pool, target))
        .await
        .unwrap_or(Outcome::Timeout)
}

/// One GET on a pooled keep-alive connection (or a new one); the connection goes back to the
/// pool once the answer was read to the end.
async fn exchange(pool: &Pool, target: &Target) -> Outcome {
    let pooled = {
        let mut idle = pool.lock().unwrap_or_else(|e| e.into_inner());
        let mut found = None;
        while let Some(sender) = idle.pop() {
            if !sender.is_closed() {
                found = Some(sender);
                break;
            }
        }
        found
    };
    let mut sender = match pooled {
        Some(s) => s,
        None => match connect(target).await {
            Some(s) => s,
            None => return Outcome::Connect,
        },
    };
    if sender.ready().await.is_err() {
        return Outcome::Io;
    }
    let request = Request::builder()
        .method(Method::GET)
        .uri(target.path_and_query.as_str())
        .header(header::HOST, target.authority.as_str())
        .body(Empty::<Bytes>::new());
    let Ok(request) = request else {
        return Outcome::Io;
    };
    let response = match sender.send_request(request).await {
        Ok(r) => r,
        Err(_) => return Outcome::Io,
    };
    let status = response.status().as_u16();
    if response.into_body().collect().await.is_err() {
        return Outcome::Io;
    }
    if !sender.is_closed() {
        pool.lock().unwrap_or_else(|e| e.into_inner()).push(sender);
    }
    Outcome::Status(status)
}

async fn connect(target: &Target) -> Option<SendRequest<Empty<Bytes>>> {
    let stream = TcpStream::connect(target.addr).await.ok()?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Some(sender)
}
