//! The state machine against algorithms-numbers.md §3 (HAProxy/Envoy/Kubernetes numbers),
//! driven by a mock clock: instants made up from a fixed origin.

use std::time::{Duration, Instant};

use shoal_health::{
    BackendStatus, HealthPolicy, HealthState, Outcome, ProbeOutcome, TickEvent, Transition,
};
use BackendStatus::*;

struct Clock(Instant);

impl Clock {
    fn new() -> Clock {
        Clock(Instant::now())
    }
    fn at(&self, secs: u64) -> Instant {
        self.0 + Duration::from_secs(secs)
    }
    fn at_ms(&self, ms: u64) -> Instant {
        self.0 + Duration::from_millis(ms)
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn not_ready() -> ProbeOutcome {
    ProbeOutcome::NotReady("HTTP 503 (expected 200-399)".to_string())
}

fn dead() -> ProbeOutcome {
    ProbeOutcome::LivenessFailed("GET /live: connect: Connection refused".to_string())
}

fn to(t: Option<Transition>) -> Option<BackendStatus> {
    t.map(|t| t.to)
}

fn tick_to(e: Option<TickEvent>) -> Option<BackendStatus> {
    match e {
        Some(TickEvent::Transition(t)) => Some(t.to),
        Some(TickEvent::DrainExpired) => panic!("unexpected drain expiry"),
        None => None,
    }
}

/// A backend present at startup that has passed its first check.
fn ready_backend(policy: HealthPolicy, c: &Clock) -> HealthState {
    let mut s = HealthState::new(policy, c.at(0), true);
    s.on_probe(ProbeOutcome::Ready, c.at(0));
    assert_eq!(s.status(), Ready);
    s
}

fn passive(slow_start: Option<Duration>) -> HealthPolicy {
    HealthPolicy {
        active_checks: false,
        slow_start,
        ..HealthPolicy::default()
    }
}

#[test]
fn down_after_exactly_fall_failures_not_before() {
    let c = Clock::new();
    let mut s = ready_backend(HealthPolicy::default(), &c);
    assert_eq!(s.on_probe(not_ready(), c.at(5)), None);
    assert_eq!(s.on_probe(not_ready(), c.at(10)), None, "2nd of 3 must not");
    assert_eq!(s.status(), Ready);
    let t = s.on_probe(not_ready(), c.at(15)).expect("3rd failure");
    assert_eq!((t.from, t.to), (Ready, NotReady));
    assert_eq!(
        t.cause,
        "readiness: 3 consecutive failures (last: HTTP 503 (expected 200-399))"
    );
    assert!(!s.status().is_eligible());
}

#[test]
fn a_pass_between_failures_restarts_the_count() {
    let c = Clock::new();
    let mut s = ready_backend(HealthPolicy::default(), &c);
    for (i, outcome) in [
        not_ready(),
        not_ready(),
        ProbeOutcome::Ready,
        not_ready(),
        not_ready(),
    ]
    .into_iter()
    .enumerate()
    {
        assert_eq!(s.on_probe(outcome, c.at(i as u64)), None);
    }
    assert_eq!(to(s.on_probe(not_ready(), c.at(9))), Some(NotReady));
}

#[test]
fn recovery_after_exactly_rise_passes() {
    let c = Clock::new();
    let mut s = ready_backend(HealthPolicy::default(), &c);
    for i in 1..=3 {
        s.on_probe(not_ready(), c.at(i));
    }
    assert_eq!(s.status(), NotReady);
    assert_eq!(s.on_probe(ProbeOutcome::Ready, c.at(4)), None, "1st of 2");
    assert_eq!(s.on_probe(not_ready(), c.at(5)), None, "streak broken");
    assert_eq!(s.on_probe(ProbeOutcome::Ready, c.at(6)), None);
    let t = s.on_probe(ProbeOutcome::Ready, c.at(7)).expect("2nd pass");
    assert_eq!((t.from, t.to), (NotReady, Ready));
    assert_eq!(t.cause, "readiness: 2 consecutive passes");
}

#[test]
fn new_backend_is_excluded_until_its_first_passing_check() {
    let c = Clock::new();
    let mut s = HealthState::new(HealthPolicy::default(), c.at(0), true);
    assert_eq!(s.status(), NotReady);
    assert!(!s.status().is_eligible());
    assert_eq!(s.on_probe(not_ready(), c.at(1)), None);
    assert_eq!(s.status(), NotReady);
    // One passing check admits a new backend (rise applies to recoveries), even after
    // failures while it was booting.
    let t = s.on_probe(ProbeOutcome::Ready, c.at(2)).expect("admitted");
    assert_eq!(
        (t.from, t.to, t.cause.as_str()),
        (NotReady, Ready, "first passing check")
    );
}

#[test]
fn a_new_backend_that_went_down_is_still_admitted_by_one_pass() {
    let c = Clock::new();
    let mut s = HealthState::new(HealthPolicy::default(), c.at(0), true);
    for i in 1..=3 {
        s.on_probe(dead(), c.at(i));
    }
    assert_eq!(s.status(), Down);
    assert_eq!(to(s.on_probe(ProbeOutcome::Ready, c.at(4))), Some(Ready));
    // Admitted once: from now on recoveries need `rise`.
    for i in 5..=7 {
        s.on_probe(not_ready(), c.at(i));
    }
    assert_eq!(s.on_probe(ProbeOutcome::Ready, c.at(8)), None);
}

#[test]
fn without_waiting_or_without_checks_a_backend_is_ready_at_once() {
    let c = Clock::new();
    let no_wait = HealthPolicy {
        wait_for_first_check: false,
        ..HealthPolicy::default()
    };
    assert_eq!(
        HealthState::new(no_wait.clone(), c.at(0), true).status(),
        Ready
    );
    assert_eq!(
        HealthState::new(passive(None), c.at(0), true).status(),
        Ready
    );
    // Not waiting means the first failures count against fall like any others.
    let mut s = HealthState::new(no_wait, c.at(0), true);
    assert_eq!(s.on_probe(not_ready(), c.at(1)), None);
}

#[test]
fn liveness_failures_take_a_backend_down_after_fall() {
    let c = Clock::new();
    let mut s = ready_backend(HealthPolicy::default(), &c);
    assert_eq!(s.on_probe(dead(), c.at(1)), None);
    assert_eq!(s.on_probe(dead(), c.at(2)), None);
    let t = s.on_probe(dead(), c.at(3)).expect("3rd liveness failure");
    assert_eq!((t.from, t.to), (Ready, Down));
    assert!(
        t.cause.starts_with("liveness: 3 consecutive failures"),
        "{}",
        t.cause
    );
    assert!(s.status().accepts_panic_traffic());

    // Liveness back but readiness still failing: not_ready after `rise` live probes.
    assert_eq!(s.on_probe(not_ready(), c.at(4)), None);
    assert_eq!(to(s.on_probe(not_ready(), c.at(5))), Some(NotReady));
    assert_eq!(s.on_probe(ProbeOutcome::Ready, c.at(6)), None);
    assert_eq!(to(s.on_probe(ProbeOutcome::Ready, c.at(7))), Some(Ready));
}

#[test]
fn mixed_failures_leave_ready_as_not_ready_then_down() {
    let c = Clock::new();
    let mut s = ready_backend(HealthPolicy::default(), &c);
    s.on_probe(not_ready(), c.at(1));
    s.on_probe(not_ready(), c.at(2));
    assert_eq!(to(s.on_probe(dead(), c.at(3))), Some(NotReady));
    s.on_probe(dead(), c.at(4));
    assert_eq!(to(s.on_probe(dead(), c.at(5))), Some(Down));
    // Straight from down to ready after rise passes.
    s.on_probe(ProbeOutcome::Ready, c.at(6));
    assert_eq!(to(s.on_probe(ProbeOutcome::Ready, c.at(7))), Some(Ready));
}

#[test]
fn last_probe_keeps_time_outcome_and_reason() {
    let c = Clock::new();
    let mut s = HealthState::new(HealthPolicy::default(), c.at(0), true);
    assert!(s.last_probe().is_none());
    s.on_probe(not_ready(), c.at(7));
    let last = s.last_probe().expect("recorded");
    assert_eq!(last.at, c.at(7));
    assert_eq!(last.reason(), Some("HTTP 503 (expected 200-399)"));
    assert_eq!(last.outcome.as_str(), "not_ready");
}

#[test]
fn slow_start_ramps_a_recovered_backend_and_ends_at_the_window() {
    let c = Clock::new();
    let policy = HealthPolicy {
        slow_start: Some(secs(60)),
        ..HealthPolicy::default()
    };
    let mut s = ready_backend(policy, &c);
    assert_eq!(
        s.weight_factor(c.at(0)),
        1.0,
        "no slow start at process start"
    );
    for i in 1..=3 {
        s.on_probe(not_ready(), c.at(i));
    }
    s.on_probe(ProbeOutcome::Ready, c.at(99));
    let t = s
        .on_probe(ProbeOutcome::Ready, c.at(100))
        .expect("recovered");
    assert_eq!(t.to, Warming);
    assert!(s.status().is_eligible());
    assert!((s.weight_factor(c.at(101)) - 0.1).abs() < 1e-9);
    assert!((s.weight_factor(c.at(130)) - 0.5).abs() < 1e-9);
    assert_eq!(s.tick(c.at(159)), None);
    assert_eq!(s.status(), Warming);
    let t = match s.tick(c.at(160)) {
        Some(TickEvent::Transition(t)) => t,
        other => panic!("expected a transition, got {other:?}"),
    };
    assert_eq!(
        (t.from, t.to, t.cause.as_str()),
        (Warming, Ready, "slow start ended")
    );
    assert_eq!(s.weight_factor(c.at(160)), 1.0);
}

#[test]
fn backends_added_later_warm_up_but_startup_ones_do_not() {
    let c = Clock::new();
    let with_checks = HealthPolicy {
        slow_start: Some(secs(60)),
        ..HealthPolicy::default()
    };
    let mut added = HealthState::new(with_checks.clone(), c.at(0), false);
    assert_eq!(
        to(added.on_probe(ProbeOutcome::Ready, c.at(1))),
        Some(Warming)
    );
    let mut startup = HealthState::new(with_checks, c.at(0), true);
    assert_eq!(
        to(startup.on_probe(ProbeOutcome::Ready, c.at(1))),
        Some(Ready)
    );

    let added = HealthState::new(passive(Some(secs(60))), c.at(0), false);
    assert_eq!(added.status(), Warming);
    assert!((added.weight_factor(c.at(30)) - 0.5).abs() < 1e-9);
    assert_eq!(
        HealthState::new(passive(Some(secs(60))), c.at(0), true).status(),
        Ready
    );
    assert_eq!(
        HealthState::new(passive(None), c.at(0), false).status(),
        Ready
    );
}

fn fail_5xx(s: &mut HealthState, n: u32, at: Instant) -> Option<Transition> {
    let mut last = None;
    for _ in 0..n {
        last = s.on_response(Outcome::ServerError, at, true);
    }
    last
}

#[test]
fn five_consecutive_5xx_eject_the_fourth_does_not_and_a_2xx_resets() {
    let c = Clock::new();
    let mut s = HealthState::new(passive(None), c.at(0), true);
    assert_eq!(fail_5xx(&mut s, 4, c.at(1)), None, "4th must not eject");
    assert_eq!(s.on_response(Outcome::Success, c.at(1), true), None);
    assert_eq!(fail_5xx(&mut s, 4, c.at(2)), None, "counter was reset");
    let t = s
        .on_response(Outcome::ServerError, c.at(2), true)
        .expect("5th ejects");
    assert_eq!((t.from, t.to), (Ready, Down));
    assert_eq!(t.cause, "ejected: 5 consecutive 5xx (for 30s)");
    assert!(s.is_ejected());
    assert_eq!(s.ejections(), 1);
    assert_eq!(s.ejected_until(), Some(c.at(32)));
    // In-flight failures while ejected do not stack another ejection.
    assert_eq!(fail_5xx(&mut s, 10, c.at(3)), None);
    assert_eq!(s.ejections(), 1);
}

#[test]
fn ejection_durations_grow_by_base_and_cap_at_max() {
    let c = Clock::new();
    let mut s = HealthState::new(passive(None), c.at(0), true);
    let mut now = 0;
    let mut got = Vec::new();
    for _ in 0..12 {
        assert_eq!(to(fail_5xx(&mut s, 5, c.at(now))), Some(Down));
        let until = s.ejected_until().expect("ejected");
        let d = until.duration_since(c.at(now)).as_secs();
        got.push(d);
        assert_eq!(s.tick(c.at(now + d) - Duration::from_millis(1)), None);
        let back = s.tick(c.at(now + d));
        assert_eq!(tick_to(back), Some(Ready));
        now += d;
    }
    assert_eq!(
        got,
        [30, 60, 90, 120, 150, 180, 210, 240, 270, 300, 300, 300]
    );
}

#[test]
fn the_multiplier_decays_while_the_backend_stays_healthy() {
    let c = Clock::new();
    let mut s = HealthState::new(passive(None), c.at(0), true);
    fail_5xx(&mut s, 5, c.at(0));
    s.tick(c.at(30));
    fail_5xx(&mut s, 5, c.at(30));
    assert_eq!(s.ejected_until(), Some(c.at(90)), "2nd ejection: 60s");
    s.tick(c.at(90));
    // 60 s healthy = two base periods: the multiplier goes back from 2 to 0.
    fail_5xx(&mut s, 5, c.at(150));
    assert_eq!(s.ejected_until(), Some(c.at(180)), "back to 30s");
    assert_eq!(s.ejections(), 3);
}

#[test]
fn the_ejection_cap_holds_a_backend_back_until_it_allows() {
    let c = Clock::new();
    let mut s = HealthState::new(passive(None), c.at(0), true);
    for _ in 0..7 {
        assert_eq!(s.on_response(Outcome::ServerError, c.at(1), false), None);
    }
    assert!(!s.is_ejected());
    let t = s
        .on_response(Outcome::ServerError, c.at(2), true)
        .expect("ejects");
    assert_eq!(t.cause, "ejected: 8 consecutive 5xx (for 30s)");
}

#[test]
fn gateway_failures_count_for_both_kinds() {
    let c = Clock::new();
    let mut s = HealthState::new(passive(None), c.at(0), true);
    for _ in 0..4 {
        s.on_response(Outcome::GatewayFailure, c.at(1), true);
    }
    let t = s
        .on_response(Outcome::GatewayFailure, c.at(1), true)
        .expect("5 gateway failures");
    assert_eq!(t.cause, "ejected: 5 consecutive gateway failures (for 30s)");

    // A plain 5xx breaks the gateway streak but not the 5xx streak.
    let mut s = HealthState::new(
        HealthPolicy {
            consecutive_5xx: 0,
            ..passive(None)
        },
        c.at(0),
        true,
    );
    for outcome in [
        Outcome::GatewayFailure,
        Outcome::GatewayFailure,
        Outcome::ServerError,
    ] {
        s.on_response(outcome, c.at(1), true);
    }
    for _ in 0..4 {
        assert_eq!(s.on_response(Outcome::GatewayFailure, c.at(1), true), None);
    }
    assert_eq!(
        to(s.on_response(Outcome::GatewayFailure, c.at(1), true)),
        Some(Down)
    );

    // With gateway ejection off, connect failures still count as 5xx (Envoy maps them).
    let mut s = HealthState::new(
        HealthPolicy {
            consecutive_gateway_failures: 0,
            ..passive(None)
        },
        c.at(0),
        true,
    );
    for _ in 0..4 {
        assert_eq!(s.on_response(Outcome::GatewayFailure, c.at(1), true), None);
    }
    let t = s
        .on_response(Outcome::GatewayFailure, c.at(1), true)
        .expect("ejects");
    assert_eq!(t.cause, "ejected: 5 consecutive 5xx (for 30s)");
}

#[test]
fn zero_thresholds_disable_ejection() {
    let c = Clock::new();
    let policy = HealthPolicy {
        consecutive_5xx: 0,
        consecutive_gateway_failures: 0,
        ..passive(None)
    };
    let mut s = HealthState::new(policy, c.at(0), true);
    for _ in 0..1000 {
        assert_eq!(s.on_response(Outcome::GatewayFailure, c.at(1), true), None);
    }
    assert_eq!(s.status(), Ready);
}

#[test]
fn an_ejected_backend_returns_through_slow_start() {
    let c = Clock::new();
    let mut s = HealthState::new(passive(Some(secs(60))), c.at(0), true);
    fail_5xx(&mut s, 5, c.at(0));
    let back = s.tick(c.at(30));
    match back {
        Some(TickEvent::Transition(t)) => {
            assert_eq!((t.from, t.to), (Down, Warming));
            assert_eq!(t.cause, "ejection ended after 30s");
        }
        other => panic!("expected warming, got {other:?}"),
    }
    assert!((s.weight_factor(c.at(60)) - 0.5).abs() < 1e-9);
    assert_eq!(tick_to(s.tick(c.at(90))), Some(Ready));
}

#[test]
fn a_passing_active_check_unejects_by_default_like_envoy() {
    let c = Clock::new();
    let mut s = ready_backend(HealthPolicy::default(), &c);
    fail_5xx(&mut s, 5, c.at(1));
    assert_eq!(s.status(), Down);
    let t = s.on_probe(ProbeOutcome::Ready, c.at(2)).expect("unejected");
    assert_eq!(
        (t.from, t.to, t.cause.as_str()),
        (Down, Ready, "unejected: active check passed")
    );
    assert!(!s.is_ejected());
    // A failing check does not uneject.
    fail_5xx(&mut s, 5, c.at(3));
    assert_eq!(s.on_probe(not_ready(), c.at(4)), None);
    assert!(s.is_ejected());
}

#[test]
fn without_uneject_on_active_success_the_ejection_runs_its_course() {
    let c = Clock::new();
    let policy = HealthPolicy {
        uneject_on_active_success: false,
        ..HealthPolicy::default()
    };
    let mut s = ready_backend(policy, &c);
    fail_5xx(&mut s, 5, c.at(1));
    for i in 2..31 {
        assert_eq!(s.on_probe(ProbeOutcome::Ready, c.at(i)), None);
    }
    assert_eq!(tick_to(s.tick(c.at(31))), Some(Ready));
}

#[test]
fn drain_stops_new_requests_and_expires_once() {
    let c = Clock::new();
    let mut s = ready_backend(HealthPolicy::default(), &c);
    let t = s.drain(c.at(10)).expect("draining");
    assert_eq!(
        (t.from, t.to, t.cause.as_str()),
        (Ready, Draining, "drain requested")
    );
    assert!(!s.status().is_eligible());
    assert!(!s.status().accepts_panic_traffic());
    assert_eq!(s.drain(c.at(20)), None, "a second drain keeps the deadline");
    assert_eq!(s.drain_deadline(), Some(c.at(40)));
    // Health keeps being judged but the status stays draining.
    for i in 11..15 {
        assert_eq!(s.on_probe(not_ready(), c.at(i)), None);
    }
    assert_eq!(s.tick(c.at_ms(39_999)), None);
    assert_eq!(s.tick(c.at(40)), Some(TickEvent::DrainExpired));
    assert_eq!(s.tick(c.at(41)), None, "reported once");
    assert_eq!(s.status(), Draining);
}

#[test]
fn disable_and_enable_return_to_what_health_says() {
    let c = Clock::new();
    let mut s = ready_backend(HealthPolicy::default(), &c);
    let t = s.disable().expect("disabled");
    assert_eq!(
        (t.from, t.to, t.cause.as_str()),
        (Ready, Disabled, "disabled by operator")
    );
    assert_eq!(s.disable(), None);
    assert!(!s.status().accepts_panic_traffic());
    for i in 1..=3 {
        assert_eq!(s.on_probe(not_ready(), c.at(i)), None);
    }
    let t = s.enable(c.at(4)).expect("enabled");
    assert_eq!(
        (t.from, t.to, t.cause.as_str()),
        (Disabled, NotReady, "enabled by operator")
    );
    assert_eq!(s.enable(c.at(5)), None, "already enabled");

    // Enabling a healthy backend with slow start warms it: it had no traffic.
    let policy = HealthPolicy {
        slow_start: Some(secs(60)),
        ..HealthPolicy::default()
    };
    let mut s = ready_backend(policy, &c);
    s.drain(c.at(1));
    assert_eq!(to(s.enable(c.at(2))), Some(Warming));
    assert_eq!(s.drain_deadline(), None);
    assert!((s.weight_factor(c.at(32)) - 0.5).abs() < 1e-9);
}

#[test]
fn an_ejection_that_ends_while_disabled_is_remembered() {
    let c = Clock::new();
    let mut s = HealthState::new(passive(None), c.at(0), true);
    fail_5xx(&mut s, 5, c.at(0));
    s.disable();
    assert_eq!(s.tick(c.at(30)), None, "status stays disabled");
    assert!(!s.is_ejected());
    assert_eq!(to(s.enable(c.at(31))), Some(Ready));
}

#[test]
fn turning_active_checks_off_on_reload_admits_the_backend() {
    let c = Clock::new();
    let mut s = HealthState::new(HealthPolicy::default(), c.at(0), true);
    assert_eq!(s.status(), NotReady);
    let t = s.set_policy(passive(None), c.at(1)).expect("admitted");
    assert_eq!((t.to, t.cause.as_str()), (Ready, "health policy changed"));
    // Turning them back on keeps the backend serving until checks say otherwise.
    assert_eq!(s.set_policy(HealthPolicy::default(), c.at(2)), None);
}
