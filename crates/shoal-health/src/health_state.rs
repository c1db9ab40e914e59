use std::time::{Duration, Instant};

use shoal_core::format_duration;

use crate::{
    ejection_time, slow_start_factor, BackendStatus, HealthPolicy, Outcome, ProbeOutcome,
    TickEvent, Transition,
};

/// The last active check, for the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastProbe {
    pub at: Instant,
    pub outcome: ProbeOutcome,
}

impl LastProbe {
    pub fn reason(&self) -> Option<&str> {
        self.outcome.reason()
    }
}

/// What the active checks concluded, before ejection, slow start and the operator are
/// layered on top.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Ready,
    NotReady,
    Down,
}

/// What the operator (or the autoscaler) asked for; overrides every health verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admin {
    Normal,
    Draining { since: Instant, signalled: bool },
    Disabled,
}

#[derive(Debug, Clone)]
struct Ejection {
    since: Instant,
    duration: Duration,
}

/// One backend's health state machine. Pure: every input carries `now`, nothing reads a
/// clock, so a test drives it with made-up instants.
///
/// One writer (the backend's health task) feeds it probe results, passive outcomes, ticks
/// and operator commands; the data plane reads only what the writer publishes from it:
/// [`HealthState::status`] (an `AtomicU8`) and [`HealthState::weight_factor`].
///
/// The published status is derived from four independent parts, in this precedence:
/// operator (`disabled`, `draining`) > `down` (liveness verdict or an ejection) >
/// `not_ready` (readiness verdict) > `warming` (inside the slow-start window) > `ready`.
/// Keeping the parts separate means, e.g., an ejection that ends while the operator has
/// the backend disabled is still remembered correctly when it is enabled again.
#[derive(Debug, Clone)]
pub struct HealthState {
    policy: HealthPolicy,
    status: BackendStatus,

    verdict: Verdict,
    /// True for a new backend waiting for its first passing check: one pass admits it
    /// (Envoy's startup quirk), where a recovery needs `rise`.
    pending: bool,
    ready_streak: u32,
    fail_streak: u32,
    live_ok_streak: u32,
    live_fail_streak: u32,
    last_probe: Option<LastProbe>,

    consecutive_5xx: u32,
    consecutive_gateway: u32,
    ejection: Option<Ejection>,
    ejections: u32,
    /// Envoy's ejection multiplier: grows by one per ejection, decays by one per
    /// `base_ejection_time` spent un-ejected, so an old incident does not make today's
    /// ejection last five minutes.
    multiplier: u32,
    unejected_at: Option<Instant>,

    warm_since: Option<Instant>,
    /// Set for backends present when the process starts: their first admission skips slow
    /// start (HAProxy and Envoy: slow start is for recoveries, and ramping every backend of a
    /// fresh process ramps nothing).
    skip_warm: bool,
    was_healthy: bool,

    admin: Admin,
}

impl HealthState {
    /// A backend as it enters an upstream at `now`. `initial` is true for backends present
    /// when the process starts (no slow start on their first admission), false for backends
    /// added later (reload, discovery, autoscaler), which warm up when slow start is on.
    ///
    /// With active checks and `wait_for_first_check`, it starts `not_ready` and one passing
    /// check admits it; otherwise it is admitted at once.
    pub fn new(policy: HealthPolicy, now: Instant, initial: bool) -> HealthState {
        let verdict = if policy.active_checks && policy.wait_for_first_check {
            Verdict::NotReady
        } else {
            Verdict::Ready
        };
        let mut state = HealthState {
            policy,
            status: BackendStatus::NotReady,
            verdict,
            pending: verdict == Verdict::NotReady,
            ready_streak: 0,
            fail_streak: 0,
            live_ok_streak: 0,
            live_fail_streak: 0,
            last_probe: None,
            consecutive_5xx: 0,
            consecutive_gateway: 0,
            ejection: None,
            ejections: 0,
            multiplier: 0,
            unejected_at: None,
            warm_since: None,
            skip_warm: initial,
            was_healthy: false,
            admin: Admin::Normal,
        };
        // The starting status is not a transition: nothing to log.
        let _ = state.settle(now, None);
        state
    }

    /// The status the data plane should see now.
    pub fn status(&self) -> BackendStatus {
        self.status
    }

    pub fn policy(&self) -> &HealthPolicy {
        &self.policy
    }

    /// Multiplier for the backend's configured weight: the slow-start ramp while `warming`
    /// (0.1 floor, linear to 1.0 at the end of the window), 1.0 otherwise.
    pub fn weight_factor(&self, now: Instant) -> f64 {
        match (self.status, self.warm_since, self.policy.slow_start) {
            (BackendStatus::Warming, Some(since), Some(window)) => {
                slow_start_factor(now.saturating_duration_since(since), window)
            }
            _ => 1.0,
        }
    }

    pub fn last_probe(&self) -> Option<&LastProbe> {
        self.last_probe.as_ref()
    }

    /// How many times outlier detection has ejected this backend, ever.
    pub fn ejections(&self) -> u32 {
        self.ejections
    }

    /// Whether an ejection is in force: what the caller counts to apply
    /// `max_ejection_percent` (see [`crate::may_eject`]).
    pub fn is_ejected(&self) -> bool {
        self.ejection.is_some()
    }

    /// When the current ejection ends (`None` when not ejected, or past the end of time).
    pub fn ejected_until(&self) -> Option<Instant> {
        let e = self.ejection.as_ref()?;
        e.since.checked_add(e.duration)
    }

    /// When a draining backend will be cut off (`None` when not draining).
    pub fn drain_deadline(&self) -> Option<Instant> {
        match self.admin {
            Admin::Draining { since, .. } => since.checked_add(self.policy.drain_timeout),
            _ => None,
        }
    }

    /// One active check's result. `rise` consecutive passes admit a `not_ready`/`down`
    /// backend (a new backend that has never passed needs one pass: Envoy admits on the very
    /// first check, we on the first passing one, so a slow-booting backend is not held back
    /// by the refusals it answered while starting), `fall` consecutive failures
    /// of any kind take a `ready` one to `not_ready`, and `fall` consecutive liveness
    /// failures take it to `down` (liveness counts separately, like Kubernetes' two probes,
    /// with the same threshold). A `down` backend whose liveness passes `rise` times in a row
    /// while readiness still fails becomes `not_ready`.
    pub fn on_probe(&mut self, outcome: ProbeOutcome, now: Instant) -> Option<Transition> {
        let first = self.pending;
        match outcome {
            ProbeOutcome::Ready => {
                self.ready_streak = self.ready_streak.saturating_add(1);
                self.fail_streak = 0;
                self.live_ok_streak = self.live_ok_streak.saturating_add(1);
                self.live_fail_streak = 0;
            }
            ProbeOutcome::NotReady(_) => {
                self.ready_streak = 0;
                self.fail_streak = self.fail_streak.saturating_add(1);
                self.live_ok_streak = self.live_ok_streak.saturating_add(1);
                self.live_fail_streak = 0;
            }
            ProbeOutcome::LivenessFailed(_) => {
                self.ready_streak = 0;
                self.fail_streak = self.fail_streak.saturating_add(1);
                self.live_ok_streak = 0;
                self.live_fail_streak = self.live_fail_streak.saturating_add(1);
            }
        }
        let reason = outcome.reason().unwrap_or("passed");
        let (rise, fall) = (self.policy.rise(), self.policy.fall());
        let mut cause = None;
        let next = match self.verdict {
            Verdict::Ready if self.live_fail_streak >= fall => Verdict::Down,
            Verdict::Ready if self.fail_streak >= fall => Verdict::NotReady,
            Verdict::NotReady | Verdict::Down if outcome.is_ready() && first => Verdict::Ready,
            Verdict::NotReady | Verdict::Down if self.ready_streak >= rise => Verdict::Ready,
            Verdict::NotReady if self.live_fail_streak >= fall => Verdict::Down,
            Verdict::Down if self.live_ok_streak >= rise => Verdict::NotReady,
            v => v,
        };
        if next != self.verdict {
            cause = Some(match next {
                Verdict::Ready if first => "first passing check".to_string(),
                Verdict::Ready => format!("readiness: {} consecutive passes", self.ready_streak),
                Verdict::NotReady if self.verdict == Verdict::Down => {
                    format!("liveness: {} consecutive passes", self.live_ok_streak)
                }
                Verdict::NotReady => format!(
                    "readiness: {} consecutive failures (last: {reason})",
                    self.fail_streak
                ),
                Verdict::Down => format!(
                    "liveness: {} consecutive failures (last: {reason})",
                    self.live_fail_streak
                ),
            });
            self.verdict = next;
            if next == Verdict::Ready {
                self.pending = false;
            }
        }
        // Envoy's successful_active_health_check_uneject_host: the backend answers its health
        // endpoint, so give it live traffic again rather than wait out the ejection.
        if outcome.is_ready()
            && self.verdict == Verdict::Ready
            && self.ejection.is_some()
            && self.policy.uneject_on_active_success
        {
            self.uneject(now);
            cause.get_or_insert_with(|| "unejected: active check passed".to_string());
        }
        self.last_probe = Some(LastProbe { at: now, outcome });
        self.settle(now, cause)
    }

    /// One proxied request's outcome (passive checks, Envoy's outlier detection). A success
    /// resets both counters; a 5xx counts toward `consecutive_5xx` and resets the
    /// gateway-failure count; a gateway failure counts toward both (Envoy maps local
    /// connect failures to a 5xx too). Reaching a threshold ejects the backend (`down`) for
    /// [`crate::ejection_time`] — but only when `may_eject`, which the caller computes from
    /// `max_ejection_percent` over the upstream ([`crate::may_eject`]). While the cap holds
    /// the backend back, every further failure asks again.
    ///
    /// Cheap on the success path: no allocation, no status work.
    pub fn on_response(
        &mut self,
        outcome: Outcome,
        now: Instant,
        may_eject: bool,
    ) -> Option<Transition> {
        match outcome {
            Outcome::Success => {
                self.consecutive_5xx = 0;
                self.consecutive_gateway = 0;
                return None;
            }
            Outcome::ServerError => {
                self.consecutive_5xx = self.consecutive_5xx.saturating_add(1);
                self.consecutive_gateway = 0;
            }
            Outcome::GatewayFailure => {
                self.consecutive_5xx = self.consecutive_5xx.saturating_add(1);
                self.consecutive_gateway = self.consecutive_gateway.saturating_add(1);
            }
        }
        // Already out: responses still in flight (or panic traffic) must not stack ejections.
        if self.ejection.is_some() || !may_eject {
            return None;
        }
        let gateway_limit = self.policy.consecutive_gateway_failures;
        let five_xx_limit = self.policy.consecutive_5xx;
        let what = if gateway_limit > 0 && self.consecutive_gateway >= gateway_limit {
            format!("{} consecutive gateway failures", self.consecutive_gateway)
        } else if five_xx_limit > 0 && self.consecutive_5xx >= five_xx_limit {
            format!("{} consecutive 5xx", self.consecutive_5xx)
        } else {
            return None;
        };
        let duration = self.eject(now);
        let cause = format!("ejected: {what} (for {})", format_duration(duration));
        self.settle(now, Some(cause))
    }

    /// Time-driven changes: an ejection ending (back via `warming` when slow start is on),
    /// the slow-start window ending (`warming` → `ready`), and a drain timing out
    /// ([`TickEvent::DrainExpired`], reported once). Call it at least every second or so;
    /// it is cheap when nothing is due.
    pub fn tick(&mut self, now: Instant) -> Option<TickEvent> {
        let mut cause = None;
        if let Some(e) = &self.ejection {
            if now.saturating_duration_since(e.since) >= e.duration {
                cause = Some(format!(
                    "ejection ended after {}",
                    format_duration(e.duration)
                ));
                self.uneject(now);
            }
        }
        if let Some(t) = self.settle(now, cause) {
            return Some(TickEvent::Transition(t));
        }
        if let Admin::Draining { since, signalled } = &mut self.admin {
            if !*signalled && now.saturating_duration_since(*since) >= self.policy.drain_timeout {
                *signalled = true;
                return Some(TickEvent::DrainExpired);
            }
        }
        None
    }

    /// Operator or autoscaler: stop sending new requests; in-flight ones may finish until the
    /// drain timeout. Draining an already draining backend keeps the original deadline.
    /// (Releasing a backend early once its in-flight count reaches 0 is the caller's call:
    /// it owns that count.)
    pub fn drain(&mut self, now: Instant) -> Option<Transition> {
        if matches!(self.admin, Admin::Draining { .. }) {
            return None;
        }
        self.admin = Admin::Draining {
            since: now,
            signalled: false,
        };
        self.settle(now, Some("drain requested".to_string()))
    }

    /// Operator: no requests at all, whatever health says. Health checks keep running so
    /// [`HealthState::enable`] lands on an up-to-date status.
    pub fn disable(&mut self) -> Option<Transition> {
        self.admin = Admin::Disabled;
        self.publish(BackendStatus::Disabled, || {
            "disabled by operator".to_string()
        })
    }

    /// Operator: undo [`HealthState::disable`] or [`HealthState::drain`]; the status goes
    /// back to what health says. A healthy backend restarts its slow start (when configured):
    /// it has had no new requests for a while, so its caches are as cold as after a failure.
    pub fn enable(&mut self, now: Instant) -> Option<Transition> {
        if self.admin == Admin::Normal {
            return None;
        }
        self.admin = Admin::Normal;
        if self.health_ok() && self.policy.slow_start.is_some() {
            self.warm_since = Some(now);
        }
        self.settle(now, Some("enabled by operator".to_string()))
    }

    /// A reload changed the upstream's policy; counters and ejection history carry over.
    /// Turning active checks off admits the backend (nothing is left to judge readiness);
    /// turning them on keeps the current verdict, so a reload never drops traffic by itself.
    pub fn set_policy(&mut self, policy: HealthPolicy, now: Instant) -> Option<Transition> {
        if !policy.active_checks && self.verdict != Verdict::Ready {
            self.verdict = Verdict::Ready;
            self.ready_streak = 0;
            self.fail_streak = 0;
            self.live_ok_streak = 0;
            self.live_fail_streak = 0;
        }
        if policy.slow_start.is_none() {
            self.warm_since = None;
        }
        self.policy = policy;
        self.settle(now, Some("health policy changed".to_string()))
    }

    fn health_ok(&self) -> bool {
        self.verdict == Verdict::Ready && self.ejection.is_none()
    }

    /// Starts an ejection; returns its duration.
    fn eject(&mut self, now: Instant) -> Duration {
        let base = self.policy.base_ejection_time;
        if let Some(at) = self.unejected_at {
            let healthy_for = now.saturating_duration_since(at).as_nanos();
            let periods = healthy_for / base.as_nanos().max(1);
            let periods = u32::try_from(periods).unwrap_or(u32::MAX);
            self.multiplier = self.multiplier.saturating_sub(periods);
        }
        self.multiplier = self.multiplier.saturating_add(1);
        self.ejections = self.ejections.saturating_add(1);
        let duration = ejection_time(self.multiplier, base, self.policy.max_ejection_time);
        self.ejection = Some(Ejection {
            since: now,
            duration,
        });
        self.consecutive_5xx = 0;
        self.consecutive_gateway = 0;
        duration
    }

    fn uneject(&mut self, now: Instant) {
        self.ejection = None;
        self.unejected_at = Some(now);
        // A fresh start: failures from before (or during) the ejection must not re-eject it
        // on the first error after it returns.
        self.consecutive_5xx = 0;
        self.consecutive_gateway = 0;
    }

    /// Recomputes the published status from the parts; returns the transition if it changed.
    fn settle(&mut self, now: Instant, cause: Option<String>) -> Option<Transition> {
        let healthy = self.health_ok();
        if healthy && !self.was_healthy {
            self.warm_since = match (self.skip_warm, self.policy.slow_start) {
                (false, Some(_)) => Some(now),
                _ => None,
            };
            self.skip_warm = false;
        } else if !healthy {
            self.warm_since = None;
        }
        self.was_healthy = healthy;
        if let (Some(since), Some(window)) = (self.warm_since, self.policy.slow_start) {
            if now.saturating_duration_since(since) >= window {
                self.warm_since = None;
            }
        }
        let to = self.derive();
        self.publish(to, || match cause {
            Some(cause) => cause,
            None => "slow start ended".to_string(),
        })
    }

    fn derive(&self) -> BackendStatus {
        match self.admin {
            Admin::Disabled => BackendStatus::Disabled,
            Admin::Draining { .. } => BackendStatus::Draining,
            Admin::Normal if self.verdict == Verdict::Down || self.ejection.is_some() => {
                BackendStatus::Down
            }
            Admin::Normal if self.verdict == Verdict::NotReady => BackendStatus::NotReady,
            Admin::Normal if self.warm_since.is_some() => BackendStatus::Warming,
            Admin::Normal => BackendStatus::Ready,
        }
    }

    fn publish(&mut self, to: BackendStatus, cause: impl FnOnce() -> String) -> Option<Transition> {
        if to == self.status {
            return None;
        }
        let from = std::mem::replace(&mut self.status, to);
        Some(Transition {
            from,
            to,
            cause: cause(),
        })
    }
}
