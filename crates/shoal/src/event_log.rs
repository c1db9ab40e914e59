//! [`EventLog`]: the recent events the admin API shows (`GET /api/v1/events`) — operator
//! actions, reloads, and backends' health changes — bounded, in memory, newest kept.
//!
//! Written off the request path only: by admin calls, the reload loop, and one task that
//! follows the health supervisor's transitions ([`follow_health`]).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use shoal_admin::{EventKind, EventView, ReloadSummary};
use shoal_core::ShutdownSignal;
use shoal_upstream::TransitionEvent;
use tokio::sync::broadcast;

/// Events kept; older ones are dropped.
pub const CAPACITY: usize = 500;

/// The log. Ids start at 1 and grow by one per event, also across dropped ones.
#[derive(Debug)]
pub struct EventLog {
    inner: Mutex<Inner>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Inner {
    last_id: u64,
    events: VecDeque<EventView>,
}

fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Default for EventLog {
    fn default() -> Self {
        EventLog::new(CAPACITY)
    }
}

impl EventLog {
    pub fn new(capacity: usize) -> EventLog {
        EventLog {
            inner: Mutex::new(Inner::default()),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records an event that happened now.
    pub fn record(
        &self,
        kind: EventKind,
        upstream: Option<&str>,
        backend: Option<&str>,
        message: impl Into<String>,
    ) {
        self.record_at(SystemTime::now(), kind, upstream, backend, message);
    }

    /// Records an event that happened at `at`.
    pub fn record_at(
        &self,
        at: SystemTime,
        kind: EventKind,
        upstream: Option<&str>,
        backend: Option<&str>,
        message: impl Into<String>,
    ) {
        let mut inner = self.lock();
        inner.last_id += 1;
        let event = EventView {
            id: inner.last_id,
            at_unix_ms: unix_ms(at),
            kind,
            upstream: upstream.map(str::to_string),
            backend: backend.map(str::to_string),
            message: message.into(),
        };
        if inner.events.len() == self.capacity {
            inner.events.pop_front();
        }
        inner.events.push_back(event);
    }

    /// The kept events with an id greater than `since`, oldest first.
    pub fn since(&self, since: u64) -> Vec<EventView> {
        let inner = self.lock();
        // Ids are consecutive, so the first wanted one's position is known.
        let first = inner.events.front().map_or(0, |e| e.id);
        let skip =
            usize::try_from(since.saturating_add(1).saturating_sub(first)).unwrap_or(usize::MAX);
        inner.events.iter().skip(skip).cloned().collect()
    }
}

/// Records a reload's outcome; `cause` says what asked for it (`"admin API"`, `"SIGHUP"`,
/// `"file changed"`).
pub fn record_reload(log: &EventLog, cause: &str, result: &Result<ReloadSummary, Vec<String>>) {
    match result {
        Ok(summary) => log.record(EventKind::Reload, None, None, reload_text(cause, summary)),
        Err(errors) => {
            let first = errors.first().map_or("", String::as_str);
            let more = match errors.len() {
                0 | 1 => String::new(),
                n => format!(" (and {} more)", n - 1),
            };
            log.record(
                EventKind::ReloadFailed,
                None,
                None,
                format!("reload ({cause}) refused, the old config keeps serving: {first}{more}"),
            );
        }
    }
}

/// `"reload (SIGHUP): backends added: api 127.0.0.1:9003; ..."`, or `"... no change"`.
fn reload_text(cause: &str, summary: &ReloadSummary) -> String {
    if !summary.changed {
        return format!("reload ({cause}): no change");
    }
    let parts: Vec<String> = [
        ("upstreams added", &summary.upstreams_added),
        ("upstreams removed", &summary.upstreams_removed),
        ("backends added", &summary.backends_added),
        ("backends removed", &summary.backends_removed),
        ("listeners added", &summary.listeners_added),
        ("listeners removed", &summary.listeners_removed),
    ]
    .into_iter()
    .filter(|(_, items)| !items.is_empty())
    .map(|(what, items)| format!("{what}: {}", items.join(", ")))
    .collect();
    if parts.is_empty() {
        format!("reload ({cause}): settings changed")
    } else {
        format!("reload ({cause}): {}", parts.join("; "))
    }
}

/// Records every health transition from `transitions` until `shutdown` (or the supervisor
/// goes). Falling behind loses the oldest transitions; the log says how many.
pub async fn follow_health(
    log: Arc<EventLog>,
    mut transitions: broadcast::Receiver<TransitionEvent>,
    mut shutdown: ShutdownSignal,
) {
    loop {
        let received = tokio::select! {
            _ = shutdown.recv() => return,
            received = transitions.recv() => received,
        };
        match received {
            Ok(event) => {
                let t = &event.transition;
                log.record_at(
                    event.at,
                    EventKind::Health,
                    Some(&event.upstream),
                    Some(&event.addr.to_string()),
                    format!("{} -> {}: {}", t.from, t.to, t.cause),
                );
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                log.record(
                    EventKind::Health,
                    None,
                    None,
                    format!("{missed} health changes not recorded (too many at once)"),
                );
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_grow_and_since_returns_what_follows() {
        let log = EventLog::new(10);
        assert!(log.since(0).is_empty());
        for i in 0..3 {
            log.record(
                EventKind::Drain,
                Some("app"),
                Some("127.0.0.1:1"),
                format!("e{i}"),
            );
        }
        let ids = |events: Vec<EventView>| events.iter().map(|e| e.id).collect::<Vec<_>>();
        assert_eq!(ids(log.since(0)), vec![1, 2, 3]);
        assert_eq!(ids(log.since(2)), vec![3]);
        assert_eq!(ids(log.since(3)), Vec::<u64>::new());
        assert_eq!(ids(log.since(u64::MAX)), Vec::<u64>::new());
        let first = &log.since(0)[0];
        assert_eq!(first.kind, EventKind::Drain);
        assert_eq!(first.upstream.as_deref(), Some("app"));
        assert_eq!(first.message, "e0");
        assert!(first.at_unix_ms > 1_600_000_000_000);
    }

    #[test]
    fn reloads_say_what_changed() {
        let log = EventLog::new(10);
        let summary = ReloadSummary {
            changed: true,
            backends_added: vec!["app 127.0.0.1:9003".into()],
            ..ReloadSummary::default()
        };
        record_reload(&log, "SIGHUP", &Ok(summary));
        record_reload(&log, "admin API", &Ok(ReloadSummary::default()));
        record_reload(&log, "file changed", &Err(vec!["a".into(), "b".into()]));
        let events = log.since(0);
        assert_eq!(events[0].kind, EventKind::Reload);
        assert_eq!(
            events[0].message,
            "reload (SIGHUP): backends added: app 127.0.0.1:9003"
        );
        assert_eq!(events[1].message, "reload (admin API): no change");
        assert_eq!(events[2].kind, EventKind::ReloadFailed);
        assert!(
            events[2].message.ends_with(": a (and 1 more)"),
            "{}",
            events[2].message
        );
    }

    #[test]
    fn bounded_keeps_the_newest() {
        let log = EventLog::new(3);
        for i in 0..5 {
            log.record(EventKind::Reload, None, None, format!("e{i}"));
        }
        let kept: Vec<u64> = log.since(0).iter().map(|e| e.id).collect();
        assert_eq!(kept, vec![3, 4, 5]);
        let after: Vec<u64> = log.since(1).iter().map(|e| e.id).collect();
        assert_eq!(
            after,
            vec![3, 4, 5],
            "ids below the oldest kept give all kept"
        );
        let after: Vec<u64> = log.since(4).iter().map(|e| e.id).collect();
        assert_eq!(after, vec![5]);
    }
}
