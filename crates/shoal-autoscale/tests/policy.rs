//! The policy against every worked example of algorithms-numbers.md §4.1 (Kubernetes HPA),
//! the documented behavior examples, and the missing-metric rules, on a mock clock.

use std::time::{Duration, Instant};

use shoal_autoscale::{Observation, Policy, PolicyParams};
use shoal_config::{ScaleRule, ScaleTarget, Step, DEFAULT_SCALE_DOWN, DEFAULT_SCALE_UP};

/// A mock clock: an origin far enough from the real one that windows never reach before it.
struct Clock(Instant);

impl Clock {
    fn new() -> Clock {
        Clock(Instant::now() + Duration::from_secs(3600))
    }
    fn at(&self, secs: u64) -> Instant {
        self.0 + Duration::from_secs(secs)
    }
}

fn params(targets: Vec<ScaleTarget>) -> PolicyParams {
    PolicyParams {
        min: 1,
        max: 1000,
        tolerance: 0.1,
        targets,
        scale_up: DEFAULT_SCALE_UP,
        scale_down: DEFAULT_SCALE_DOWN,
    }
}

/// A CPU-style target of `target` percent.
fn cpu(target: f64) -> Vec<ScaleTarget> {
    vec![ScaleTarget::CpuPercent(target)]
}

/// `current` instances, every one counted, each reporting its value for the one target.
fn obs(current: u32, values: &[Option<f64>]) -> Observation {
    Observation {
        current,
        backends: values.iter().map(|v| vec![*v]).collect(),
        unready: current.saturating_sub(values.len() as u32),
    }
}

fn all_at(current: u32, value: f64) -> Observation {
    obs(current, &vec![Some(value); current as usize])
}

/// The recommendation a fresh policy makes (no history), which is also what it does.
fn recommend(targets: Vec<ScaleTarget>, o: &Observation) -> (Option<u32>, u32) {
    let clock = Clock::new();
    let mut policy = Policy::new(params(targets));
    let d = policy.evaluate(clock.at(0), o);
    (d.recommendation, d.desired)
}

#[test]
fn doubling() {
    // 4 replicas, 200m vs target 100m → 8.
    assert_eq!(recommend(cpu(100.0), &all_at(4, 200.0)), (Some(8), 8));
}

#[test]
fn halving() {
    // 4 replicas, 50m vs 100m → 2.
    assert_eq!(recommend(cpu(100.0), &all_at(4, 50.0)), (Some(2), 2));
}

#[test]
fn inside_tolerance_no_change() {
    assert_eq!(recommend(cpu(100.0), &all_at(4, 105.0)), (Some(4), 4));
    assert_eq!(recommend(cpu(100.0), &all_at(4, 95.0)), (Some(4), 4));
    // The edge itself is inside (|ratio − 1| ≤ tolerance).
    assert_eq!(recommend(cpu(100.0), &all_at(4, 110.0)), (Some(4), 4));
    assert_eq!(recommend(cpu(100.0), &all_at(4, 90.0)), (Some(4), 4));
}

#[test]
fn just_outside_tolerance() {
    // 4 replicas, ratio 1.11 → ceil(4.44) = 5.
    assert_eq!(recommend(cpu(100.0), &all_at(4, 111.0)), (Some(5), 5));
}

#[test]
fn tolerance_is_configurable() {
    let clock = Clock::new();
    let mut p = params(cpu(100.0));
    p.tolerance = 0.02;
    let mut policy = Policy::new(p);
    let d = policy.evaluate(clock.at(0), &all_at(4, 105.0));
    assert_eq!(d.desired, 5, "1.05 is outside a 2% tolerance: {d:?}");
}

#[test]
fn blog_example() {
    // 50 replicas at 90% CPU, target 75% → 60.
    assert_eq!(recommend(cpu(75.0), &all_at(50, 90.0)), (Some(60), 60));
}

#[test]
fn missing_metric_on_scale_up() {
    // 4 pods: 3 at 90%, 1 missing; target 50% → (270 + 0) / (4 × 50) = 1.35 → 6.
    let o = obs(4, &[Some(90.0), Some(90.0), Some(90.0), None]);
    assert_eq!(recommend(cpu(50.0), &o), (Some(6), 6));
}

#[test]
fn missing_metric_on_scale_down() {
    // 4 pods: 3 at 20%, 1 missing; target 50% → (60 + 50) / 200 = 0.55 → 3 (not 2).
    let o = obs(4, &[Some(20.0), Some(20.0), Some(20.0), None]);
    assert_eq!(recommend(cpu(50.0), &o), (Some(3), 3));
}

#[test]
fn not_ready_dampening() {
    // 5 pods: 3 ready at 90%, 2 not ready; target 50% → 270 / 250 = 1.08 → 5.
    let o = obs(5, &[Some(90.0), Some(90.0), Some(90.0)]);
    assert_eq!(o.unready, 2);
    assert_eq!(recommend(cpu(50.0), &o), (Some(5), 5));
}

#[test]
fn unready_are_set_aside_on_a_scale_down() {
    // 5 asked for, 3 counted at 20% of a 50% target, 2 still starting: the 3 say 2.
    let o = obs(5, &[Some(20.0), Some(20.0), Some(20.0)]);
    assert_eq!(recommend(cpu(50.0), &o).0, Some(2));
}

#[test]
fn default_scale_up_rate() {
    // 1 → huge demand: at most max(+4, +100%) per 15 s: 1 → 5 → 10 → 20 → 40.
    let clock = Clock::new();
    let mut p = params(cpu(10.0));
    p.max = 10_000;
    let mut policy = Policy::new(p);
    let mut current = 1;
    let mut seen = vec![current];
    for period in 0..4u64 {
        for second in 0..15 {
            let now = clock.at(period * 15 + second);
            let d = policy.evaluate(now, &all_at(current, 1000.0));
            if second > 0 {
                assert_eq!(d.desired, current, "held inside the period: {d:?}");
            }
            if d.desired != current {
                policy.record_scale(now, current, d.desired);
                current = d.desired;
            }
        }
        seen.push(current);
    }
    assert_eq!(seen, [1, 5, 10, 20, 40]);
}

#[test]
fn scale_up_selects_the_larger_step() {
    let clock = Clock::new();
    let mut p = params(cpu(10.0));
    p.scale_up = ScaleRule {
        max_step: Step::Percent(10),
        min_step: 2,
        every: Duration::from_secs(60),
        stabilization: Duration::ZERO,
    };
    let mut policy = Policy::new(p);
    // From 10: 10% is 1 (ceil 11), min_step 2 → 12 wins.
    assert_eq!(policy.evaluate(clock.at(0), &all_at(10, 100.0)).desired, 12);
    // From 50: 10% → 55 beats 52.
    let mut policy = Policy::new(policy.params().clone());
    assert_eq!(policy.evaluate(clock.at(0), &all_at(50, 100.0)).desired, 55);
}

#[test]
fn documented_scale_down_policy() {
    // scaleDown {Pods 4 per 60 s, Percent 10 per 60 s}, Max: from 80, 8 are removed, then at
    // 72 the 7.2 rounds up to 8; below 40 replicas the limit is 4 per minute.
    let clock = Clock::new();
    let mut p = params(cpu(50.0));
    p.scale_down = ScaleRule {
        max_step: Step::Percent(10),
        min_step: 4,
        every: Duration::from_secs(60),
        stabilization: Duration::ZERO,
    };
    let mut policy = Policy::new(p);
    let mut current = 80;
    let mut steps = Vec::new();
    for minute in 0..3u64 {
        let now = clock.at(minute * 60);
        let d = policy.evaluate(now, &all_at(current, 1.0));
        steps.push(current - d.desired);
        policy.record_scale(now, current, d.desired);
        current = d.desired;
    }
    assert_eq!(steps, [8, 8, 7], "80 → 72 → 64 → 57");
    let mut policy = Policy::new(policy.params().clone());
    let d = policy.evaluate(clock.at(0), &all_at(30, 1.0));
    assert_eq!(d.desired, 26, "below 40 the 4 pods win: {d:?}");
}

#[test]
fn scale_down_max_step_per_period() {
    // The example: scale_down = { max_step = 1, every = "30s" }.
    let clock = Clock::new();
    let mut p = params(cpu(50.0));
    p.scale_down = ScaleRule {
        max_step: Step::Count(1),
        min_step: 0,
        every: Duration::from_secs(30),
        stabilization: Duration::ZERO,
    };
    let mut policy = Policy::new(p);
    let mut current = 6;
    let mut history = Vec::new();
    for second in 0..=60u64 {
        let now = clock.at(second);
        let d = policy.evaluate(now, &all_at(current, 1.0));
        if d.desired != current {
            history.push((second, d.desired));
            policy.record_scale(now, current, d.desired);
            current = d.desired;
        }
    }
    assert_eq!(history, [(0, 5), (30, 4), (60, 3)]);
}

#[test]
fn stabilization_keeps_the_highest_recommendation_of_the_window() {
    // Recommendations 10, 6, 6 over the last 300 s: stays 10 until the 10 leaves the window.
    let clock = Clock::new();
    let mut policy = Policy::new(params(cpu(50.0)));
    let d = policy.evaluate(clock.at(0), &all_at(10, 50.0));
    assert_eq!((d.recommendation, d.desired), (Some(10), 10));
    for t in [100, 200, 299] {
        let d = policy.evaluate(clock.at(t), &all_at(10, 30.0));
        assert_eq!(d.recommendation, Some(6));
        assert_eq!(
            d.desired, 10,
            "at {t}s the 10 is still in the window: {d:?}"
        );
    }
    // Exactly 300 s later the first recommendation is out: a rolling maximum over exactly
    // the window.
    let d = policy.evaluate(clock.at(300), &all_at(10, 30.0));
    assert_eq!(d.desired, 6, "{d:?}");
}

#[test]
fn scale_up_is_not_stabilized_by_default() {
    let clock = Clock::new();
    let mut policy = Policy::new(params(cpu(50.0)));
    policy.evaluate(clock.at(0), &all_at(4, 10.0));
    let d = policy.evaluate(clock.at(1), &all_at(4, 100.0));
    assert_eq!(d.desired, 8, "{d:?}");
}

#[test]
fn never_above_max_nor_below_min() {
    let clock = Clock::new();
    let mut p = params(cpu(10.0));
    p.min = 2;
    p.max = 8;
    let mut policy = Policy::new(p.clone());
    let d = policy.evaluate(clock.at(0), &all_at(4, 1000.0));
    assert_eq!(d.desired, 8, "{d:?}");
    assert!(d.reason.contains("max 8"), "{}", d.reason);
    let mut policy = Policy::new(p.clone());
    let d = policy.evaluate(clock.at(0), &all_at(4, 0.0));
    assert_eq!(d.desired, 2, "{d:?}");
    // Outside the range already: straight back in.
    let mut policy = Policy::new(p.clone());
    assert_eq!(policy.evaluate(clock.at(0), &all_at(12, 10.0)).desired, 8);
    let mut policy = Policy::new(p);
    assert_eq!(policy.evaluate(clock.at(0), &obs(0, &[])).desired, 2);
}

#[test]
fn several_targets_take_the_largest() {
    let targets = vec![
        ScaleTarget::RpsPerBackend(100.0),
        ScaleTarget::InFlightPerBackend(10.0),
    ];
    let o = Observation {
        current: 4,
        // rps says 4 × 1.5 = 6; in-flight says 4 × 3 = 12.
        backends: vec![vec![Some(150.0), Some(30.0)]; 4],
        unready: 0,
    };
    let (rec, desired) = recommend(targets, &o);
    assert_eq!(
        (rec, desired),
        (Some(12), 8),
        "12 recommended, +100% per 15s → 8"
    );
}

#[test]
fn a_target_without_metrics_blocks_a_scale_down() {
    let targets = vec![
        ScaleTarget::RpsPerBackend(100.0),
        ScaleTarget::P95Latency(Duration::from_millis(50)),
    ];
    // rps says scale down; latency has no sample at all.
    let o = Observation {
        current: 4,
        backends: vec![vec![Some(10.0), None]; 4],
        unready: 0,
    };
    let clock = Clock::new();
    let mut policy = Policy::new(params(targets.clone()));
    let d = policy.evaluate(clock.at(0), &o);
    assert_eq!(d.desired, 4, "{d:?}");
    assert!(d.reason.contains("without metrics"), "{}", d.reason);
    // ...but not a scale up.
    let o = Observation {
        current: 4,
        backends: vec![vec![Some(300.0), None]; 4],
        unready: 0,
    };
    let mut policy = Policy::new(params(targets));
    assert_eq!(policy.evaluate(clock.at(0), &o).desired, 8);
}

#[test]
fn no_metrics_at_all_holds() {
    let clock = Clock::new();
    let mut policy = Policy::new(params(cpu(50.0)));
    let d = policy.evaluate(clock.at(0), &obs(4, &[None, None, None, None]));
    assert_eq!((d.recommendation, d.desired), (None, 4));
    // Nothing counted yet (all warming): hold as well.
    let d = policy.evaluate(clock.at(1), &obs(4, &[]));
    assert_eq!(d.desired, 4);
}

#[test]
fn a_manual_scale_is_held_by_the_window() {
    let clock = Clock::new();
    let mut p = params(cpu(50.0));
    p.scale_down.stabilization = Duration::from_secs(60);
    let mut policy = Policy::new(p);
    policy.manual(clock.at(0), 2, 6);
    let d = policy.evaluate(clock.at(10), &all_at(6, 10.0));
    assert_eq!(d.desired, 6, "held for the window: {d:?}");
    let d = policy.evaluate(clock.at(61), &all_at(6, 10.0));
    assert!(d.desired < 6, "released after it: {d:?}");
}

#[test]
fn decisions_carry_their_inputs() {
    let clock = Clock::new();
    let mut policy = Policy::new(params(vec![ScaleTarget::RpsPerBackend(100.0)]));
    let d = policy.evaluate(clock.at(0), &obs(3, &[Some(300.0), Some(200.0), None]));
    assert_eq!(d.current, 3);
    assert_eq!(d.targets.len(), 1);
    let t = &d.targets[0];
    assert_eq!(t.key, "rps_per_backend");
    assert_eq!(t.target, 100.0);
    assert_eq!(t.value, Some(250.0));
    assert_eq!((t.measured, t.missing), (2, 1));
    // The missing one counts as 0 on the way up: 500 / 3 / 100 → ceil(5.0) = 5.
    assert_eq!(t.recommendation, Some(5));
    assert_eq!((d.desired, d.action()), (5, "scale_up"));
}
