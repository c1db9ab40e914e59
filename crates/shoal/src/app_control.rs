//! The admin API's view of a running shoal: answers from the serving snapshot and the
//! backends' live numbers, and hands every change to the [`Controller`] or the health
//! supervisor. Methods run on blocking threads (the admin server calls them that way), so
//! they may wait for the control side's answer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use shoal_admin::{
    AutoscaleView, BackendState as StateView, BackendView, CheckResult, CheckView, Control,
    ControlError, EventKind, EventView, ListenerView, ReloadSummary, RouteView, UpstreamView,
};
use shoal_autoscale::{Autoscaler, ScaleError};
use shoal_config::{render_match, target_text};
use shoal_health::{BackendStatus, ProbeOutcome};
use shoal_upstream::{BackendState, Operation, Upstream};

use crate::control::{ChangeError, Controller};
use crate::event_log::{record_reload, EventLog};

/// How often a removal checks whether the draining backend has finished its requests.
const DRAIN_POLL: Duration = Duration::from_millis(50);

pub struct AppControl {
    controller: Arc<Controller>,
    events: Arc<EventLog>,
    autoscaler: Option<Arc<Autoscaler>>,
}

impl AppControl {
    pub fn new(controller: Arc<Controller>) -> AppControl {
        AppControl {
            controller,
            events: Arc::new(EventLog::default()),
            autoscaler: None,
        }
    }

    /// Serves `GET .../autoscale` and `POST .../scale` from this autoscaler.
    pub fn with_autoscaler(mut self, autoscaler: Arc<Autoscaler>) -> AppControl {
        self.autoscaler = Some(autoscaler);
        self
    }

    fn autoscale_view(&self, upstream: &str) -> Result<AutoscaleView, ControlError> {
        self.autoscaler
            .as_ref()
            .and_then(|a| a.status(upstream))
            .map(crate::autoscale_views::view)
            .ok_or_else(|| self.not_autoscaled(upstream))
    }

    /// The log `GET /api/v1/events` reads: operator changes made here are recorded in it;
    /// the caller adds reloads from elsewhere and health changes.
    pub fn event_log(&self) -> &Arc<EventLog> {
        &self.events
    }

    fn record(&self, kind: EventKind, upstream: &str, view: &BackendView, message: String) {
        self.events
            .record(kind, Some(upstream), Some(&view.addr), message);
    }
}

fn state_view(status: BackendStatus) -> StateView {
    match status {
        BackendStatus::Warming => StateView::Warming,
        BackendStatus::Ready => StateView::Ready,
        BackendStatus::NotReady => StateView::NotReady,
        BackendStatus::Down => StateView::Down,
        BackendStatus::Draining => StateView::Draining,
        BackendStatus::Disabled => StateView::Disabled,
    }
}

fn change_error(e: ChangeError) -> ControlError {
    match e {
        ChangeError::UnknownUpstream(u) => ControlError::UnknownUpstream(u),
        ChangeError::UnknownBackend(upstream, addr) => ControlError::UnknownBackend {
            upstream,
            addr: addr.to_string(),
        },
        ChangeError::AlreadyExists(upstream, addr) => ControlError::AlreadyExists {
            upstream,
            addr: addr.to_string(),
        },
        ChangeError::LastBackend(u) => {
            ControlError::Conflict(format!("{u} would have no backend left"))
        }
        ChangeError::Refused(why) => ControlError::Conflict(why),
    }
}

fn parse_addr(addr: &str) -> Result<SocketAddr, ControlError> {
    addr.parse()
        .map_err(|_| ControlError::InvalidAddress(addr.to_string()))
}

impl AppControl {
    fn backend_view(&self, upstream: &str, backend: &BackendState) -> BackendView {
        let health = self
            .controller
            .proxy()
            .health()
            .view_blocking(upstream, backend.addr());
        let last_check = health
            .as_ref()
            .and_then(|h| h.last_probe.as_ref())
            .map(|p| {
                let ago = p.at.elapsed();
                let at = SystemTime::now()
                    .checked_sub(ago)
                    .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_millis() as u64);
                CheckView {
                    at_unix_ms: at,
                    result: match p.outcome {
                        ProbeOutcome::Ready => CheckResult::Ready,
                        ProbeOutcome::NotReady(_) => CheckResult::NotReady,
                        ProbeOutcome::LivenessFailed(_) => CheckResult::LivenessFailed,
                    },
                    reason: p.reason().map(str::to_string),
                }
            });
        let status = health.map_or_else(|| backend.status(), |h| h.status);
        BackendView {
            addr: backend.addr().to_string(),
            state: state_view(status),
            weight: backend.weight(),
            effective_weight: if status.is_eligible() {
                f64::from(backend.weight()) * backend.weight_factor()
            } else {
                0.0
            },
            in_flight: u64::from(backend.in_flight()),
            requests: backend.requests(),
            failures: backend.failures(),
            tunnels: backend.tunnels_open() as u64,
            tunnels_closed_by_drain: backend.tunnels_closed_by_drain(),
            last_check,
        }
    }

    fn upstream_view(&self, upstream: &Upstream) -> UpstreamView {
        let backends: Vec<BackendView> = upstream
            .backends()
            .iter()
            .map(|b| self.backend_view(upstream.name(), b))
            .collect();
        UpstreamView {
            name: upstream.name().to_string(),
            algorithm: upstream.config().algorithm.to_string(),
            eligible: upstream
                .backends()
                .iter()
                .filter(|b| b.is_eligible())
                .count(),
            panic: upstream.in_panic(),
            backends,
        }
    }

    fn find_backend(&self, upstream: &str, addr: SocketAddr) -> Result<BackendView, ControlError> {
        let snapshot = self.controller.proxy().snapshot();
        let up = snapshot
            .upstreams
            .iter()
            .find(|u| u.name() == upstream)
            .ok_or_else(|| ControlError::UnknownUpstream(upstream.to_string()))?;
        let backend = up
            .backends()
            .iter()
            .find(|b| b.addr() == addr)
            .ok_or_else(|| ControlError::UnknownBackend {
                upstream: upstream.to_string(),
                addr: addr.to_string(),
            })?;
        Ok(self.backend_view(upstream, backend))
    }

    fn operate(
        &self,
        upstream: &str,
        addr: &str,
        op: Operation,
    ) -> Result<BackendView, ControlError> {
        let addr = parse_addr(addr)?;
        self.controller
            .check_backend(upstream, addr)
            .map_err(change_error)?;
        self.controller
            .proxy()
            .health()
            .operate_blocking(upstream, addr, op)
            .ok_or_else(|| {
                ControlError::Unavailable("health supervisor not answering".to_string())
            })?;
        let view = self.find_backend(upstream, addr)?;
        let (kind, verb) = match op {
            Operation::Drain => (EventKind::Drain, "drained"),
            Operation::Enable => (EventKind::Enable, "enabled"),
            Operation::Disable => (EventKind::Disable, "disabled"),
        };
        let message = format!("{verb} by the operator, now {}", view.state.as_str());
        self.record(kind, upstream, &view, message);
        Ok(view)
    }
}

impl Control for AppControl {
    fn listeners(&self) -> Vec<ListenerView> {
        let snapshot = self.controller.proxy().snapshot();
        let addrs = self.controller.proxy().listener_addrs().to_vec();
        snapshot
            .listeners
            .iter()
            .map(|l| ListenerView {
                name: l.config.name.clone(),
                bind: addrs
                    .iter()
                    .find(|(n, _)| *n == l.config.name)
                    .map_or_else(|| l.config.bind.to_string(), |(_, a)| a.to_string()),
                protocol: l.config.protocol.as_str().to_string(),
                routes: l
                    .config
                    .routes
                    .iter()
                    .map(|r| RouteView {
                        name: format!("{}.routes[{}]", l.config.name, r.index),
                        matcher: render_match(&r.matcher),
                        target: target_text(&r.target),
                    })
                    .collect(),
            })
            .collect()
    }

    fn upstreams(&self) -> Vec<UpstreamView> {
        let snapshot = self.controller.proxy().snapshot();
        snapshot
            .upstreams
            .iter()
            .map(|u| self.upstream_view(u))
            .collect()
    }

    fn upstream(&self, name: &str) -> Option<UpstreamView> {
        let snapshot = self.controller.proxy().snapshot();
        snapshot
            .upstreams
            .iter()
            .find(|u| u.name() == name)
            .map(|u| self.upstream_view(u))
    }

    fn drain(&self, upstream: &str, addr: &str) -> Result<BackendView, ControlError> {
        self.operate(upstream, addr, Operation::Drain)
    }

    fn enable(&self, upstream: &str, addr: &str) -> Result<BackendView, ControlError> {
        self.operate(upstream, addr, Operation::Enable)
    }

    fn disable(&self, upstream: &str, addr: &str) -> Result<BackendView, ControlError> {
        self.operate(upstream, addr, Operation::Disable)
    }

    fn set_weight(
        &self,
        upstream: &str,
        addr: &str,
        weight: u32,
    ) -> Result<BackendView, ControlError> {
        let addr = parse_addr(addr)?;
        let before = self.find_backend(upstream, addr).map(|v| v.weight);
        self.controller
            .set_weight(upstream, addr, weight)
            .map_err(change_error)?;
        let view = self.find_backend(upstream, addr)?;
        let message = match before {
            Ok(old) => format!("weight {old} -> {weight} by the operator"),
            Err(_) => format!("weight set to {weight} by the operator"),
        };
        self.record(EventKind::Weight, upstream, &view, message);
        Ok(view)
    }

    fn add_backend(
        &self,
        upstream: &str,
        addr: &str,
        weight: u32,
    ) -> Result<BackendView, ControlError> {
        let addr = parse_addr(addr)?;
        self.controller
            .add_backend(upstream, addr, weight)
            .map_err(change_error)?;
        let view = self.find_backend(upstream, addr)?;
        let message = format!("added by the operator with weight {weight}");
        self.record(EventKind::Add, upstream, &view, message);
        Ok(view)
    }

    fn remove_backend(&self, upstream: &str, addr: &str) -> Result<BackendView, ControlError> {
        let view = self.operate(upstream, addr, Operation::Drain)?;
        self.record(
            EventKind::Remove,
            upstream,
            &view,
            "removal by the operator: draining, then removed".to_string(),
        );
        let events = Arc::clone(&self.events);
        let addr = parse_addr(addr)?;
        let snapshot = self.controller.proxy().snapshot();
        // `operate` checked that both exist; a reload in between leaves nothing to wait for.
        let serving = snapshot.upstreams.iter().find(|u| u.name() == upstream);
        let drain_timeout = serving.map_or(Duration::ZERO, |u| u.config().drain_timeout);
        let backend = serving.and_then(|u| u.backends().iter().find(|b| b.addr() == addr).cloned());
        let controller = Arc::clone(&self.controller);
        let upstream = upstream.to_string();
        // Draining: no new requests now; the backend leaves the config once its in-flight
        // requests are done, or at the drain timeout.
        let spawned = std::thread::Builder::new()
            .name("shoal-drain".to_string())
            .spawn(move || {
                let deadline = std::time::Instant::now() + drain_timeout;
                while let Some(b) = &backend {
                    if b.in_flight() == 0 || std::time::Instant::now() >= deadline {
                        break;
                    }
                    std::thread::sleep(DRAIN_POLL);
                }
                let backend = addr.to_string();
                if let Err(e) = controller.remove_backend(&upstream, addr) {
                    tracing::warn!(upstream = %upstream, backend = %addr, error = ?e, "drained backend not removed");
                    let message = format!("drained backend not removed: {e:?}");
                    events.record(EventKind::Remove, Some(&upstream), Some(&backend), message);
                } else {
                    tracing::info!(upstream = %upstream, backend = %addr, "drained backend removed");
                    events.record(EventKind::Remove, Some(&upstream), Some(&backend), "removed");
                }
            });
        if spawned.is_err() {
            return Err(ControlError::Unavailable(
                "cannot start the drain".to_string(),
            ));
        }
        Ok(view)
    }

    fn reload(&self) -> Result<ReloadSummary, Vec<String>> {
        let result = self.controller.reload();
        record_reload(&self.events, "admin API", &result);
        result
    }

    fn ready(&self) -> bool {
        true
    }

    fn events(&self, since: u64) -> Vec<EventView> {
        self.events.since(since)
    }

    fn metrics(&self) -> String {
        crate::metrics::text(self.controller.proxy(), self.autoscaler.as_deref())
    }

    fn autoscale(&self, upstream: &str) -> Result<AutoscaleView, ControlError> {
        self.autoscale_view(upstream)
    }

    fn scale(&self, upstream: &str, count: u32) -> Result<AutoscaleView, ControlError> {
        let Some(autoscaler) = &self.autoscaler else {
            return Err(self.not_autoscaled(upstream));
        };
        match autoscaler.scale_blocking(upstream, count) {
            Ok(()) => self.autoscale_view(upstream),
            Err(ScaleError::NotAutoscaled(_)) => Err(self.not_autoscaled(upstream)),
            Err(ScaleError::Refused(why)) => Err(ControlError::InvalidCount(why)),
            Err(ScaleError::Stopped) => Err(ControlError::Unavailable(
                "the autoscaler is not running".to_string(),
            )),
        }
    }
}
