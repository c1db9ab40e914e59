//! The WebSocket tunnels open to one backend, so that a drain can close them paced.
//!
//! A tunnel (an upgraded client connection relayed to this backend) registers here for its
//! whole life and holds an [`OpenTunnel`]. When the backend drains (operator drain, removal,
//! shutdown), [`Tunnels::close_paced`] gives every open tunnel its own close time, spread
//! evenly over the drain window ([`paced_close_offset`]): closing them all at once would
//! have every client reconnect in the same instant, a storm on the backends that remain.
//! Each tunnel waits on its [`CloseSignal`] and closes itself at its time; nothing here runs
//! a task or touches a socket.
//!
//! Tunnels are long-lived, so one mutex taken when a tunnel opens or closes costs nothing the
//! plain request path would notice (it never comes here).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// When the `k`-th (from 0) of `n` tunnels closes, counted from the start of a drain spread
/// over `window`: evenly, the first at once, the last at `window × (n−1)/n`, so even the last
/// one is closed (and its backend empty) before the window ends. `k ≥ n` is treated as the
/// last one.
pub fn paced_close_offset(k: usize, n: usize, window: Duration) -> Duration {
    if n == 0 {
        return Duration::ZERO;
    }
    let k = k.min(n - 1);
    // window × k / n in u128 nanoseconds, split so that no product overflows: q × k ≤
    // window (k < n), and r × k < n².
    let (window, k, n) = (window.as_nanos(), k as u128, n as u128);
    let nanos = window / n * k + window % n * k / n;
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// When one tunnel must close; shared by the registry (which sets it) and the tunnel (which
/// waits for it).
#[derive(Debug, Default)]
pub struct CloseSignal {
    at: Mutex<Option<Instant>>,
    /// One waiter (the tunnel); `notify_one` keeps a permit when it is not waiting yet, so a
    /// change is never missed.
    changed: Notify,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl CloseSignal {
    fn set(&self, at: Option<Instant>) {
        *lock(&self.at) = at;
        self.changed.notify_one();
    }

    /// The scheduled close time, if any.
    pub fn at(&self) -> Option<Instant> {
        *lock(&self.at)
    }

    /// Resolves when the tunnel's close time has come. A cancelled drain (the backend was
    /// enabled again) takes the time away, and this goes on waiting.
    pub async fn wait(&self) {
        loop {
            match self.at() {
                None => self.changed.notified().await,
                Some(at) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(tokio::time::Instant::from_std(at)) => return,
                        () = self.changed.notified() => {}
                    }
                }
            }
        }
    }
}

/// One backend's open tunnels.
#[derive(Debug, Default)]
pub struct Tunnels {
    registry: Mutex<Registry>,
    closed_by_drain: AtomicU64,
}

#[derive(Debug, Default)]
struct Registry {
    next_id: u64,
    /// By id, which is opening order: the oldest tunnels close first.
    open: BTreeMap<u64, std::sync::Arc<CloseSignal>>,
    /// A drain is under way: a tunnel that opens now (its upgrade was already on its way
    /// when the drain began) closes at once.
    closing: bool,
}

impl Tunnels {
    /// Registers a new tunnel: its id and its close signal.
    pub(crate) fn open(&self) -> (u64, std::sync::Arc<CloseSignal>) {
        let signal = std::sync::Arc::new(CloseSignal::default());
        let mut registry = lock(&self.registry);
        let id = registry.next_id;
        registry.next_id += 1;
        if registry.closing {
            signal.set(Some(Instant::now()));
        }
        registry.open.insert(id, std::sync::Arc::clone(&signal));
        (id, signal)
    }

    /// Forgets a closed tunnel. True when it was the last one of a drain under way.
    pub(crate) fn remove(&self, id: u64) -> bool {
        let mut registry = lock(&self.registry);
        registry.open.remove(&id).is_some() && registry.closing && registry.open.is_empty()
    }

    /// Spreads the open tunnels' close times over `window` from `now`, in opening order, and
    /// closes tunnels opened from now on at once. A tunnel already given an earlier time
    /// keeps it: a second drain (the removal after an operator drain) does not start the
    /// spread again, while a shorter one (shutdown during a drain) pulls later times in.
    /// Returns how many tunnels got a new time.
    pub fn close_paced(&self, window: Duration, now: Instant) -> usize {
        let mut registry = lock(&self.registry);
        registry.closing = true;
        let n = registry.open.len();
        let mut changed = 0;
        for (k, signal) in registry.open.values().enumerate() {
            let at = now + paced_close_offset(k, n, window);
            if signal.at().is_none_or(|earlier| at < earlier) {
                signal.set(Some(at));
                changed += 1;
            }
        }
        changed
    }

    /// Undoes [`Self::close_paced`] (the backend was enabled again): tunnels not closed yet
    /// stay open.
    pub fn cancel_close(&self) {
        let mut registry = lock(&self.registry);
        registry.closing = false;
        for signal in registry.open.values() {
            signal.set(None);
        }
    }

    /// Tunnels open now.
    pub fn open_count(&self) -> usize {
        lock(&self.registry).open.len()
    }

    /// Tunnels closed because their backend drained (or shoal shut down), since the backend
    /// joined.
    pub fn closed_by_drain(&self) -> u64 {
        self.closed_by_drain.load(Ordering::Relaxed)
    }

    pub(crate) fn count_drain_close(&self) {
        self.closed_by_drain.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn closes_spread_evenly_first_at_once_last_before_the_end() {
        let window = secs(4.0);
        let offsets: Vec<Duration> = (0..4).map(|k| paced_close_offset(k, 4, window)).collect();
        assert_eq!(offsets, [secs(0.0), secs(1.0), secs(2.0), secs(3.0)]);
        assert_eq!(paced_close_offset(0, 1, window), Duration::ZERO);
        // Past the last is the last.
        assert_eq!(paced_close_offset(9, 4, window), secs(3.0));
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        assert_eq!(paced_close_offset(0, 0, secs(1.0)), Duration::ZERO);
        assert_eq!(paced_close_offset(5, 10, Duration::ZERO), Duration::ZERO);
        let huge = paced_close_offset(usize::MAX - 1, usize::MAX, Duration::MAX);
        assert!(huge <= Duration::MAX);
        let many: Vec<Duration> = (0..1000)
            .map(|k| paced_close_offset(k, 1000, secs(30.0)))
            .collect();
        assert!(many.windows(2).all(|w| w[0] < w[1]), "strictly increasing");
        assert!(many.iter().all(|d| *d < secs(30.0)));
    }

    #[test]
    fn a_paced_close_schedules_open_tunnels_oldest_first_once() {
        let tunnels = Tunnels::default();
        let signals: Vec<_> = (0..3).map(|_| tunnels.open().1).collect();
        let now = Instant::now();
        assert_eq!(tunnels.close_paced(secs(3.0), now), 3);
        let at: Vec<Instant> = signals.iter().map(|s| s.at().expect("scheduled")).collect();
        assert_eq!(at, [now, now + secs(1.0), now + secs(2.0)]);
        // A second, longer drain keeps the times already given.
        assert_eq!(tunnels.close_paced(secs(30.0), now + secs(0.5)), 0);
        assert_eq!(signals[2].at(), Some(now + secs(2.0)));
        // A shorter one pulls the later ones in.
        assert_eq!(tunnels.close_paced(secs(0.3), now + secs(0.5)), 2);
        let at: Vec<Instant> = signals.iter().map(|s| s.at().expect("scheduled")).collect();
        assert_eq!(at, [now, now + secs(0.6), now + secs(0.7)]);
        // A tunnel opening during the drain closes at once.
        let (late, signal) = tunnels.open();
        assert!(signal.at().is_some_and(|t| t <= Instant::now()));
        assert_eq!(tunnels.open_count(), 4);
        assert!(!tunnels.remove(late));
    }

    #[test]
    fn removing_the_last_tunnel_of_a_drain_is_reported() {
        let tunnels = Tunnels::default();
        let (a, _) = tunnels.open();
        let (b, _) = tunnels.open();
        assert!(!tunnels.remove(a), "no drain under way");
        tunnels.close_paced(secs(1.0), Instant::now());
        assert!(tunnels.remove(b), "the last one of the drain");
        assert_eq!(tunnels.open_count(), 0);
    }

    #[test]
    fn cancel_takes_the_close_times_away() {
        let tunnels = Tunnels::default();
        let (_, signal) = tunnels.open();
        tunnels.close_paced(secs(10.0), Instant::now());
        assert!(signal.at().is_some());
        tunnels.cancel_close();
        assert_eq!(signal.at(), None);
        let (_, later) = tunnels.open();
        assert_eq!(later.at(), None, "no drain under way any more");
    }

    #[tokio::test(start_paused = true)]
    async fn a_signal_fires_at_its_time_and_not_when_cancelled() {
        let signal = std::sync::Arc::new(CloseSignal::default());
        let waiter = {
            let signal = std::sync::Arc::clone(&signal);
            tokio::spawn(async move { signal.wait().await })
        };
        tokio::task::yield_now().await;
        // Set, then cancelled before it fires: still waiting.
        signal.set(Some(Instant::now() + secs(5.0)));
        tokio::time::sleep(secs(1.0)).await;
        signal.set(None);
        tokio::time::sleep(secs(10.0)).await;
        assert!(!waiter.is_finished());
        signal.set(Some(Instant::now()));
        tokio::time::timeout(secs(1.0), waiter)
            .await
            .expect("fires")
            .expect("task");
    }
}
