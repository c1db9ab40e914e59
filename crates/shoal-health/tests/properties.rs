//! No sequence of inputs panics the state machine, and what it publishes always agrees with
//! what it was told.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use shoal_health::{
    BackendStatus, HealthPolicy, HealthState, Outcome, ProbeOutcome, TickEvent, Transition,
    SLOW_START_MIN_FACTOR,
};

#[derive(Debug, Clone)]
enum Input {
    Probe(u8),
    Response(u8, bool),
    Tick,
    Drain,
    Disable,
    Enable,
    SetPolicy(HealthPolicy),
}

fn policy() -> impl Strategy<Value = HealthPolicy> {
    (
        (any::<bool>(), 0u32..4, 0u32..4, any::<bool>()),
        prop::option::of(0u64..120),
        0u64..60,
        (0u32..7, 0u32..7, 0u64..60, 0u64..400, any::<bool>()),
    )
        .prop_map(
            |((active_checks, rise, fall, wait), slow, drain, (c5, cg, base, max, uneject))| {
                HealthPolicy {
                    active_checks,
                    rise,
                    fall,
                    wait_for_first_check: wait,
                    slow_start: slow.map(Duration::from_secs),
                    drain_timeout: Duration::from_secs(drain),
                    consecutive_5xx: c5,
                    consecutive_gateway_failures: cg,
                    base_ejection_time: Duration::from_secs(base),
                    max_ejection_time: Duration::from_secs(max),
                    uneject_on_active_success: uneject,
                }
            },
        )
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        6 => (0u8..3).prop_map(Input::Probe),
        8 => (0u8..3, any::<bool>()).prop_map(|(k, m)| Input::Response(k, m)),
        4 => Just(Input::Tick),
        1 => Just(Input::Drain),
        1 => Just(Input::Disable),
        1 => Just(Input::Enable),
        1 => policy().prop_map(Input::SetPolicy),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Admin {
    Normal,
    Draining,
    Disabled,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn status_stays_consistent(
        start in (policy(), any::<bool>()),
        steps in prop::collection::vec((input(), -5i64..90), 0..200),
    ) {
        let (policy, initial) = start;
        let origin = Instant::now();
        let mut offset_ms: u64 = 0;
        let mut s = HealthState::new(policy, origin, initial);
        let mut admin = Admin::Normal;
        let mut drain_reported = false;
        for (input, advance_s) in steps {
            // Time mostly moves forward; a few steps go backwards, which must not panic either.
            offset_ms = offset_ms.saturating_add_signed(advance_s * 1000 / 3);
            let now = origin + Duration::from_millis(offset_ms);
            let before = s.status();
            let mut transition: Option<Transition> = None;
            match input {
                Input::Probe(k) => {
                    let outcome = match k {
                        0 => ProbeOutcome::Ready,
                        1 => ProbeOutcome::NotReady("HTTP 503".to_string()),
                        _ => ProbeOutcome::LivenessFailed("refused".to_string()),
                    };
                    transition = s.on_probe(outcome, now);
                    prop_assert_eq!(s.last_probe().map(|p| p.at), Some(now));
                }
                Input::Response(k, may) => {
                    let outcome = [Outcome::Success, Outcome::ServerError, Outcome::GatewayFailure]
                        [usize::from(k)];
                    let ejected_before = s.is_ejected();
                    transition = s.on_response(outcome, now, may);
                    if !may || ejected_before {
                        prop_assert_eq!(s.is_ejected(), ejected_before, "cap or stacking ignored");
                    }
                }
                Input::Tick => match s.tick(now) {
                    Some(TickEvent::Transition(t)) => transition = Some(t),
                    Some(TickEvent::DrainExpired) => {
                        prop_assert_eq!(admin, Admin::Draining);
                        prop_assert!(!drain_reported, "drain expiry reported twice");
                        drain_reported = true;
                    }
                    None => {}
                },
                Input::Drain => {
                    transition = s.drain(now);
                    if admin != Admin::Draining {
                        drain_reported = false;
                    }
                    admin = Admin::Draining;
                }
                Input::Disable => {
                    transition = s.disable();
                    admin = Admin::Disabled;
                }
                Input::Enable => {
                    transition = s.enable(now);
                    admin = Admin::Normal;
                }
                Input::SetPolicy(p) => transition = s.set_policy(p, now),
            }

            let status = s.status();
            match &transition {
                Some(t) => {
                    prop_assert_eq!(t.from, before);
                    prop_assert_eq!(t.to, status);
                    prop_assert_ne!(t.from, t.to);
                    prop_assert!(!t.cause.is_empty());
                }
                None => prop_assert_eq!(before, status, "status changed silently"),
            }
            prop_assert_eq!(
                status.is_eligible(),
                matches!(status, BackendStatus::Warming | BackendStatus::Ready)
            );
            prop_assert_eq!(BackendStatus::from_u8(status.as_u8()), Some(status));
            match admin {
                Admin::Disabled => prop_assert_eq!(status, BackendStatus::Disabled),
                Admin::Draining => prop_assert_eq!(status, BackendStatus::Draining),
                Admin::Normal => prop_assert!(
                    !matches!(status, BackendStatus::Disabled | BackendStatus::Draining)
                ),
            }
            prop_assert_eq!(s.drain_deadline().is_some(), admin == Admin::Draining);
            if s.is_ejected() {
                prop_assert!(!status.is_eligible());
                prop_assert!(s.ejected_until().is_some());
            }
            if status == BackendStatus::Warming {
                prop_assert!(s.policy().slow_start.is_some());
            }
            let factor = s.weight_factor(now);
            prop_assert!((SLOW_START_MIN_FACTOR..=1.0).contains(&factor), "{factor}");
            if status != BackendStatus::Warming {
                prop_assert_eq!(factor, 1.0);
            }
        }
    }
}
