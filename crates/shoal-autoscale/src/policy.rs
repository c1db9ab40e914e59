//! The autoscale policy: Kubernetes HPA arithmetic, pure. It takes the observation and `now`
//! as arguments and keeps only its own history (recommendations for the stabilization
//! windows, scale events for the rate limits), so it is tested on a mock clock.
//!
//! Per target (HPA's replica calculator, with `value / target` as the usage ratio):
//!
//! - `desired = ceil(ratio × backends with a value)`; no change inside ±`tolerance`;
//! - a counted backend with no value ("missing") is taken as 100 % of the target when the
//!   others say scale down, 0 % when they say scale up; backends not counted yet (starting,
//!   not ready, warming) as 0 % on a scale-up and set aside otherwise; if that reverses the
//!   direction or lands inside the tolerance, nothing changes.
//!
//! Then over all targets: the largest recommendation wins; if a target has no value at all
//! and the rest would scale down, nothing changes (missing data is never read as idle).
//! Then HPA's behavior: the scale-down window keeps the highest recommendation of its last
//! `stabilization` (the scale-up window the lowest), the step per `every` is limited to the
//! larger of `max_step` and `min_step` counted from the size at the start of the period, and
//! the result is clamped to `[min, max]`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use shoal_config::{AutoscaleConfig, ScaleRule, ScaleTarget, Step};

/// Guards `ceil` and tolerance comparisons against floating-point dust (4 × 1.1 is
/// 4.4000000000000004; 2.0 × 4 must stay 8, not become 9).
const EPSILON: f64 = 1e-9;

/// What the policy is tuned by: the `autoscale` table minus the provider.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyParams {
    pub min: u32,
    pub max: u32,
    pub tolerance: f64,
    pub targets: Vec<ScaleTarget>,
    pub scale_up: ScaleRule,
    pub scale_down: ScaleRule,
}

impl PolicyParams {
    pub fn from_config(config: &AutoscaleConfig) -> PolicyParams {
        PolicyParams {
            min: config.min,
            max: config.max,
            tolerance: config.tolerance,
            targets: config.targets.clone(),
            scale_up: config.scale_up,
            scale_down: config.scale_down,
        }
    }
}

/// One evaluation's input.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observation {
    /// Instances asked for and not being removed: starting, warming and counted ones.
    pub current: u32,
    /// Per counted backend (ready and past its warmup), one value per target in
    /// [`PolicyParams::targets`] order; `None` = no value for that target (missing).
    pub backends: Vec<Vec<Option<f64>>>,
    /// Instances not counted yet: starting, not ready, or warming.
    pub unready: u32,
}

/// One target's reading and what it alone recommends.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetReading {
    /// The config key, e.g. `rps_per_backend`.
    pub key: &'static str,
    pub target: f64,
    /// Mean over the backends that have a value; `None` when none has.
    pub value: Option<f64>,
    /// Backends with a value, and counted backends without one.
    pub measured: usize,
    pub missing: usize,
    /// `None` when the target has no value at all.
    pub recommendation: Option<u32>,
}

/// What one evaluation decided, with its inputs: an event for the log and the admin API.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub current: u32,
    pub unready: u32,
    pub targets: Vec<TargetReading>,
    /// The combined recommendation before stabilization and rate limits; `None` when the
    /// metrics could not give one.
    pub recommendation: Option<u32>,
    /// The count to run now.
    pub desired: u32,
    /// Why `desired` is what it is, in words.
    pub reason: String,
}

impl Decision {
    /// `"scale_up"`, `"scale_down"` or `"none"`.
    pub fn action(&self) -> &'static str {
        match self.desired.cmp(&self.current) {
            std::cmp::Ordering::Greater => "scale_up",
            std::cmp::Ordering::Less => "scale_down",
            std::cmp::Ordering::Equal => "none",
        }
    }
}

/// The policy with its history.
#[derive(Debug)]
pub struct Policy {
    params: PolicyParams,
    /// (time, unstabilized recommendation), oldest first.
    recommendations: VecDeque<(Instant, u32)>,
    /// (time, instances added) and (time, instances removed), oldest first.
    ups: VecDeque<(Instant, u32)>,
    downs: VecDeque<(Instant, u32)>,
}

impl Policy {
    pub fn new(params: PolicyParams) -> Policy {
        Policy {
            params,
            recommendations: VecDeque::new(),
            ups: VecDeque::new(),
            downs: VecDeque::new(),
        }
    }

    pub fn params(&self) -> &PolicyParams {
        &self.params
    }

    /// New parameters (a reload); the history stays.
    pub fn set_params(&mut self, params: PolicyParams) {
        self.params = params;
    }

    /// Decides the count for `now`. Call [`Policy::record_scale`] once a change is applied.
    pub fn evaluate(&mut self, now: Instant, obs: &Observation) -> Decision {
        self.prune(now);
        let p = &self.params;
        let targets: Vec<TargetReading> = p
            .targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let values: Vec<Option<f64>> = obs
                    .backends
                    .iter()
                    .map(|b| b.get(i).copied().flatten())
                    .collect();
                reading(t, &values, obs.current, obs.unready, p.tolerance)
            })
            .collect();
        let mut decision = Decision {
            current: obs.current,
            unready: obs.unready,
            targets,
            recommendation: None,
            desired: obs.current,
            reason: String::new(),
        };
        if obs.current < p.min {
            decision.desired = p.min;
            decision.reason = format!("below min {}", p.min);
            return decision;
        }
        if obs.current > p.max {
            decision.desired = p.max;
            decision.reason = format!("above max {}", p.max);
            return decision;
        }
        let missing = decision
            .targets
            .iter()
            .filter(|t| t.recommendation.is_none())
            .count();
        let best = decision
            .targets
            .iter()
            .filter_map(|t| t.recommendation)
            .max();
        let Some(best) = best else {
            decision.reason = "no metrics yet: holding".to_string();
            return decision;
        };
        if missing > 0 && best < obs.current {
            decision.reason =
                format!("{missing} target(s) without metrics and the rest say scale down: holding");
            return decision;
        }
        decision.recommendation = Some(best);
        let (desired, reason) = self.normalize(now, obs.current, best);
        decision.desired = desired;
        decision.reason = reason;
        decision
    }

    /// An operator set the count by hand: it is kept as a recommendation (so the scale-down
    /// window holds it) and counts against the rate limits like any change.
    pub fn manual(&mut self, now: Instant, current: u32, count: u32) {
        self.recommendations.push_back((now, count));
        self.record_scale(now, current, count);
    }

    /// A change from `from` to `to` instances was applied at `now` (for the rate limits).
    pub fn record_scale(&mut self, now: Instant, from: u32, to: u32) {
        if to > from {
            self.ups.push_back((now, to - from));
        } else if to < from {
            self.downs.push_back((now, from - to));
        }
    }

    fn prune(&mut self, now: Instant) {
        let p = &self.params;
        let keep_recs = p.scale_up.stabilization.max(p.scale_down.stabilization);
        let keep_events = p.scale_up.every.max(p.scale_down.every);
        prune(&mut self.recommendations, now, keep_recs);
        prune(&mut self.ups, now, keep_events);
        prune(&mut self.downs, now, keep_events);
    }

    /// HPA's `normalizeDesiredReplicasWithBehaviors`: stabilize, then limit the rate, then
    /// clamp.
    fn normalize(&mut self, now: Instant, current: u32, recommended: u32) -> (u32, String) {
        let p = self.params.clone();
        // Stabilization: lowest recommendation of the up window, highest of the down one
        // (each including this one); records strictly inside (now − window, now] count.
        let mut up_rec = recommended;
        let mut down_rec = recommended;
        for (at, rec) in &self.recommendations {
            if within(*at, now, p.scale_up.stabilization) {
                up_rec = up_rec.min(*rec);
            }
            if within(*at, now, p.scale_down.stabilization) {
                down_rec = down_rec.max(*rec);
            }
        }
        self.recommendations.push_back((now, recommended));
        let mut stabilized = current;
        if stabilized < up_rec {
            stabilized = up_rec;
        }
        if stabilized > down_rec {
            stabilized = down_rec;
        }
        let mut reason = if stabilized == current && recommended != current {
            if recommended < current {
                format!(
                    "recommended {recommended}, held at {current}: highest recommendation in the \
                     last {} is {down_rec}",
                    shoal_core::format_duration(p.scale_down.stabilization)
                )
            } else {
                format!(
                    "recommended {recommended}, held at {current}: lowest recommendation in the \
                     last {} is {up_rec}",
                    shoal_core::format_duration(p.scale_up.stabilization)
                )
            }
        } else if stabilized != recommended {
            format!("recommended {recommended}, stabilized to {stabilized}")
        } else if recommended == current {
            "at target".to_string()
        } else {
            format!("recommended {recommended}")
        };
        let mut desired = stabilized;
        if stabilized > current {
            let limit = self.up_limit(now, current, &p.scale_up).max(current);
            let allowed = p.max.min(limit);
            if desired > allowed {
                desired = allowed;
                reason = if limit < p.max {
                    format!(
                        "{reason}; limited to {limit} by scale_up (max({}, {}) per {})",
                        step_text(p.scale_up.max_step),
                        p.scale_up.min_step,
                        shoal_core::format_duration(p.scale_up.every)
                    )
                } else {
                    format!("{reason}; clamped to max {}", p.max)
                };
            }
        } else if stabilized < current {
            let limit = self.down_limit(now, current, &p.scale_down).min(current);
            let allowed = p.min.max(limit);
            if desired < allowed {
                desired = allowed;
                reason = if limit > p.min {
                    format!(
                        "{reason}; limited to {limit} by scale_down (max({}, {}) per {})",
                        step_text(p.scale_down.max_step),
                        p.scale_down.min_step,
                        shoal_core::format_duration(p.scale_down.every)
                    )
                } else {
                    format!("{reason}; clamped to min {}", p.min)
                };
            }
        }
        (desired.clamp(p.min, p.max), reason)
    }

    /// The most instances allowed now: the count at the start of the period plus the larger
    /// step (a percent rounds up, so it always allows at least one).
    fn up_limit(&self, now: Instant, current: u32, rule: &ScaleRule) -> u32 {
        let start = self.period_start(now, current, rule.every);
        let by_step = match rule.max_step {
            Step::Count(n) => start.saturating_add(n),
            Step::Percent(pct) => ceil_u32(f64::from(start) * (1.0 + f64::from(pct) / 100.0)),
        };
        by_step.max(start.saturating_add(rule.min_step))
    }

    /// The fewest instances allowed now: the count at the start of the period minus the
    /// larger step (a percent rounds the remaining count down, as HPA does).
    fn down_limit(&self, now: Instant, current: u32, rule: &ScaleRule) -> u32 {
        let start = self.period_start(now, current, rule.every);
        let by_step = match rule.max_step {
            Step::Count(n) => start.saturating_sub(n),
            Step::Percent(pct) => {
                let left = f64::from(start) * (1.0 - f64::from(pct) / 100.0);
                if left <= 0.0 {
                    0
                } else {
                    (left + EPSILON).floor() as u32
                }
            }
        };
        by_step.min(start.saturating_sub(rule.min_step))
    }

    /// The count at the start of the rate period: now, minus what was added in it, plus
    /// what was removed.
    fn period_start(&self, now: Instant, current: u32, every: Duration) -> u32 {
        let added: u32 = self
            .ups
            .iter()
            .filter(|(at, _)| within(*at, now, every))
            .map(|(_, n)| *n)
            .sum();
        let removed: u32 = self
            .downs
            .iter()
            .filter(|(at, _)| within(*at, now, every))
            .map(|(_, n)| *n)
            .sum();
        current.saturating_sub(added).saturating_add(removed)
    }
}

fn step_text(step: Step) -> String {
    match step {
        Step::Count(n) => n.to_string(),
        Step::Percent(p) => format!("{p}%"),
    }
}

/// True when `at` is inside the window (now − window, now].
fn within(at: Instant, now: Instant, window: Duration) -> bool {
    match now.checked_sub(window) {
        Some(cutoff) => at > cutoff,
        // The window reaches before the clock's origin: everything recorded is inside.
        None => true,
    }
}

fn prune<T>(items: &mut VecDeque<(Instant, T)>, now: Instant, keep: Duration) {
    while items.front().is_some_and(|(at, _)| !within(*at, now, keep)) {
        items.pop_front();
    }
}

fn ceil_u32(x: f64) -> u32 {
    if x <= 0.0 {
        return 0;
    }
    let c = (x - EPSILON).ceil();
    if c >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        c as u32
    }
}

/// One target: HPA's replica calculator over per-backend values.
fn reading(
    target: &ScaleTarget,
    values: &[Option<f64>],
    current: u32,
    unready: u32,
    tolerance: f64,
) -> TargetReading {
    let goal = target.value();
    let present: Vec<f64> = values.iter().flatten().copied().collect();
    let missing = values.len() - present.len();
    let mut out = TargetReading {
        key: target.key(),
        target: goal,
        value: None,
        measured: present.len(),
        missing,
        recommendation: None,
    };
    if present.is_empty() || goal <= 0.0 {
        return out;
    }
    let sum: f64 = present.iter().sum();
    let mean = sum / present.len() as f64;
    out.value = Some(mean);
    let ratio = mean / goal;
    let inside = |r: f64| (1.0 - r).abs() <= tolerance + EPSILON;
    let up_with_unready = unready > 0 && ratio > 1.0;
    if !up_with_unready && missing == 0 {
        out.recommendation = Some(if inside(ratio) {
            current
        } else {
            ceil_u32(ratio * present.len() as f64)
        });
        return out;
    }
    // Fill in what is not measured, each way in the direction that dampens the change.
    let mut total = sum;
    let mut count = present.len() as f64;
    if missing > 0 {
        if ratio < 1.0 {
            total += goal * missing as f64;
            count += missing as f64;
        } else if ratio > 1.0 {
            count += missing as f64;
        }
    }
    if up_with_unready {
        count += f64::from(unready);
    }
    let new_ratio = total / count / goal;
    let reversed = (ratio < 1.0 && new_ratio > 1.0) || (ratio > 1.0 && new_ratio < 1.0);
    if inside(new_ratio) || reversed {
        out.recommendation = Some(current);
        return out;
    }
    let proposed = ceil_u32(new_ratio * count);
    let wrong_way =
        (new_ratio < 1.0 && proposed > current) || (new_ratio > 1.0 && proposed < current);
    out.recommendation = Some(if wrong_way { current } else { proposed });
    out
}
