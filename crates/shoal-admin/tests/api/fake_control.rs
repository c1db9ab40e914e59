//! An in-memory [`Control`]: two upstreams, records every call, answers like shoal would, and
//! can be scripted to fail, panic or block.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};

use shoal_admin::{
    BackendState, BackendView, CheckResult, CheckView, Control, ControlError, EventKind, EventView,
    ListenerView, ReloadSummary, RouteView, UpstreamView,
};

pub struct FakeControl {
    calls: Mutex<Vec<String>>,
    upstreams: Mutex<BTreeMap<String, Vec<BackendView>>>,
    ready: AtomicBool,
    reload_result: Mutex<Result<ReloadSummary, Vec<String>>>,
    /// Returned (once) by the next backend change instead of doing it.
    next_error: Mutex<Option<ControlError>>,
    panic_next: AtomicBool,
    /// When set, `reload` reports it started, then waits to be released.
    reload_hold: Mutex<Option<(tokio::sync::oneshot::Sender<()>, mpsc::Receiver<()>)>>,
    events: Vec<EventView>,
}

pub fn backend(addr: &str, state: BackendState, weight: u32) -> BackendView {
    BackendView {
        addr: addr.to_string(),
        state,
        weight,
        effective_weight: f64::from(weight),
        in_flight: 0,
        requests: 0,
        failures: 0,
        tunnels: 0,
        tunnels_closed_by_drain: 0,
        last_check: None,
    }
}

impl FakeControl {
    pub fn new() -> FakeControl {
        let mut api_first = backend("127.0.0.1:9001", BackendState::Ready, 1);
        api_first.requests = 42;
        api_first.in_flight = 2;
        api_first.failures = 1;
        api_first.tunnels = 1;
        api_first.tunnels_closed_by_drain = 3;
        api_first.last_check = Some(CheckView {
            at_unix_ms: 1_700_000_000_000,
            result: CheckResult::Ready,
            reason: None,
        });
        let mut api_second = backend("127.0.0.1:9002", BackendState::Warming, 2);
        api_second.effective_weight = 0.2;
        let upstreams = BTreeMap::from([
            ("api".to_string(), vec![api_first, api_second]),
            (
                "web".to_string(),
                vec![backend("[::1]:9001", BackendState::Down, 1)],
            ),
        ]);
        FakeControl {
            calls: Mutex::new(Vec::new()),
            upstreams: Mutex::new(upstreams),
            ready: AtomicBool::new(true),
            reload_result: Mutex::new(Ok(ReloadSummary::default())),
            next_error: Mutex::new(None),
            panic_next: AtomicBool::new(false),
            reload_hold: Mutex::new(None),
            events: (1..=5)
                .map(|id| EventView {
                    id,
                    at_unix_ms: 1_700_000_000_000 + id,
                    kind: EventKind::Drain,
                    upstream: Some("api".to_string()),
                    backend: Some("127.0.0.1:9001".to_string()),
                    message: format!("event {id}"),
                })
                .collect(),
        }
    }

    /// Every call so far, as `"method arg arg"`.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("lock").clone()
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    pub fn set_reload_result(&self, result: Result<ReloadSummary, Vec<String>>) {
        *self.reload_result.lock().expect("lock") = result;
    }

    pub fn fail_next(&self, error: ControlError) {
        *self.next_error.lock().expect("lock") = Some(error);
    }

    pub fn panic_next(&self) {
        self.panic_next.store(true, Ordering::SeqCst);
    }

    /// Makes the next `reload` block: the returned receiver resolves when it has started, and
    /// it returns once the sender is used (or dropped).
    pub fn hold_reload(&self) -> (tokio::sync::oneshot::Receiver<()>, mpsc::Sender<()>) {
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let (release_tx, release_rx) = mpsc::channel();
        *self.reload_hold.lock().expect("lock") = Some((started_tx, release_rx));
        (started_rx, release_tx)
    }

    fn record(&self, call: String) {
        if self.panic_next.swap(false, Ordering::SeqCst) {
            panic!("scripted panic in {call}");
        }
        self.calls.lock().expect("lock").push(call);
    }

    fn view(name: &str, backends: &[BackendView]) -> UpstreamView {
        UpstreamView {
            name: name.to_string(),
            algorithm: "round_robin".to_string(),
            eligible: backends
                .iter()
                .filter(|b| matches!(b.state, BackendState::Ready | BackendState::Warming))
                .count(),
            panic: false,
            backends: backends.to_vec(),
        }
    }

    /// Applies `change` to one existing backend, after the scripted error if any.
    fn change(
        &self,
        upstream: &str,
        addr: &str,
        change: impl FnOnce(&mut BackendView),
    ) -> Result<BackendView, ControlError> {
        if let Some(error) = self.next_error.lock().expect("lock").take() {
            return Err(error);
        }
        let mut upstreams = self.upstreams.lock().expect("lock");
        let backends = upstreams
            .get_mut(upstream)
            .ok_or_else(|| ControlError::UnknownUpstream(upstream.to_string()))?;
        let backend = backends
            .iter_mut()
            .find(|b| b.addr == addr)
            .ok_or_else(|| ControlError::UnknownBackend {
                upstream: upstream.to_string(),
                addr: addr.to_string(),
            })?;
        change(backend);
        Ok(backend.clone())
    }
}

impl Control for FakeControl {
    fn listeners(&self) -> Vec<ListenerView> {
        self.record("listeners".into());
        vec![ListenerView {
            name: "web".into(),
            bind: "127.0.0.1:8080".into(),
            protocol: "http".into(),
            routes: vec![RouteView {
                name: "api".into(),
                matcher: "path_prefix=/api".into(),
                target: "api".into(),
            }],
        }]
    }

    fn upstreams(&self) -> Vec<UpstreamView> {
        self.record("upstreams".into());
        let upstreams = self.upstreams.lock().expect("lock");
        upstreams
            .iter()
            .map(|(name, backends)| FakeControl::view(name, backends))
            .collect()
    }

    fn upstream(&self, name: &str) -> Option<UpstreamView> {
        self.record(format!("upstream {name}"));
        let upstreams = self.upstreams.lock().expect("lock");
        upstreams
            .get(name)
            .map(|backends| FakeControl::view(name, backends))
    }

    fn drain(&self, upstream: &str, addr: &str) -> Result<BackendView, ControlError> {
        self.record(format!("drain {upstream} {addr}"));
        self.change(upstream, addr, |b| b.state = BackendState::Draining)
    }

    fn enable(&self, upstream: &str, addr: &str) -> Result<BackendView, ControlError> {
        self.record(format!("enable {upstream} {addr}"));
        self.change(upstream, addr, |b| b.state = BackendState::Warming)
    }

    fn disable(&self, upstream: &str, addr: &str) -> Result<BackendView, ControlError> {
        self.record(format!("disable {upstream} {addr}"));
        self.change(upstream, addr, |b| b.state = BackendState::Disabled)
    }

    fn set_weight(
        &self,
        upstream: &str,
        addr: &str,
        weight: u32,
    ) -> Result<BackendView, ControlError> {
        self.record(format!("set_weight {upstream} {addr} {weight}"));
        self.change(upstream, addr, |b| {
            b.weight = weight;
            b.effective_weight = f64::from(weight);
        })
    }

    fn add_backend(
        &self,
        upstream: &str,
        addr: &str,
        weight: u32,
    ) -> Result<BackendView, ControlError> {
        self.record(format!("add_backend {upstream} {addr} {weight}"));
        if let Some(error) = self.next_error.lock().expect("lock").take() {
            return Err(error);
        }
        let mut upstreams = self.upstreams.lock().expect("lock");
        let backends = upstreams
            .get_mut(upstream)
            .ok_or_else(|| ControlError::UnknownUpstream(upstream.to_string()))?;
        if backends.iter().any(|b| b.addr == addr) {
            return Err(ControlError::AlreadyExists {
                upstream: upstream.to_string(),
                addr: addr.to_string(),
            });
        }
        let view = backend(addr, BackendState::NotReady, weight);
        backends.push(view.clone());
        Ok(view)
    }

    fn remove_backend(&self, upstream: &str, addr: &str) -> Result<BackendView, ControlError> {
        self.record(format!("remove_backend {upstream} {addr}"));
        self.change(upstream, addr, |b| b.state = BackendState::Draining)
    }

    fn reload(&self) -> Result<ReloadSummary, Vec<String>> {
        self.record("reload".into());
        let hold = self.reload_hold.lock().expect("lock").take();
        if let Some((started, release)) = hold {
            let _ = started.send(());
            let _ = release.recv();
        }
        self.reload_result.lock().expect("lock").clone()
    }

    fn ready(&self) -> bool {
        self.record("ready".into());
        self.ready.load(Ordering::SeqCst)
    }

    fn events(&self, since: u64) -> Vec<EventView> {
        self.record(format!("events {since}"));
        self.events
            .iter()
            .filter(|e| e.id > since)
            .cloned()
            .collect()
    }
    fn metrics(&self) -> String {
        self.record("metrics".into());
        METRICS.to_string()
    }
}

/// What [`FakeControl::metrics`] answers.
pub const METRICS: &str = "# HELP shoal_backend_in_flight Requests under way.\n\
                           # TYPE shoal_backend_in_flight gauge\n\
                           shoal_backend_in_flight{upstream=\"api\",backend=\"127.0.0.1:9001\"} 2\n";
