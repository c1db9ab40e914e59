//! What an autoscaled upstream looks like from outside: its instances, the last decision,
//! and the decision log (the last [`MAX_EVENTS`]), as the admin API shows them.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use crate::policy::{Decision, TargetReading};

/// How many decisions are kept.
pub const MAX_EVENTS: usize = 200;

/// One decision, with its inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// When it was made (first time, if repeated), ms since the Unix epoch.
    pub at_unix_ms: u64,
    /// Identical decisions in a row are kept once: how many more there were, and when the
    /// last one was made.
    pub repeated: u32,
    pub last_at_unix_ms: u64,
    /// `"scale_up"`, `"scale_down"`, `"none"` or `"manual"`.
    pub action: &'static str,
    pub current: u32,
    pub desired: u32,
    pub unready: u32,
    pub recommendation: Option<u32>,
    pub targets: Vec<TargetReading>,
    pub reason: String,
}

impl Event {
    pub fn from_decision(d: &Decision, at: SystemTime) -> Event {
        let ms = unix_ms(at);
        Event {
            at_unix_ms: ms,
            repeated: 0,
            last_at_unix_ms: ms,
            action: d.action(),
            current: d.current,
            desired: d.desired,
            unready: d.unready,
            recommendation: d.recommendation,
            targets: d.targets.clone(),
            reason: d.reason.clone(),
        }
    }

    /// Same outcome for the same reason (the readings may differ).
    fn same_as(&self, other: &Event) -> bool {
        self.action == "none"
            && other.action == "none"
            && self.current == other.current
            && self.desired == other.desired
            && self.reason == other.reason
    }
}

/// The actions a decision can take, as [`Event::action`] names them.
pub const ACTIONS: [&str; 4] = ["scale_up", "scale_down", "none", "manual"];

/// The last [`MAX_EVENTS`] decisions, oldest first, and how many of each action were ever
/// made (repeats included).
#[derive(Debug, Clone, Default)]
pub struct EventLog {
    events: VecDeque<Event>,
    /// By [`ACTIONS`] index.
    totals: [u64; ACTIONS.len()],
}

impl EventLog {
    /// Adds a decision; a "no change" identical to the previous one only bumps its count.
    pub fn push(&mut self, event: Event) {
        if let Some(i) = ACTIONS.iter().position(|a| *a == event.action) {
            if let Some(total) = self.totals.get_mut(i) {
                *total = total.saturating_add(1);
            }
        }
        if let Some(last) = self.events.back_mut() {
            if last.same_as(&event) {
                last.repeated = last.repeated.saturating_add(1);
                last.last_at_unix_ms = event.at_unix_ms;
                last.targets = event.targets;
                return;
            }
        }
        if self.events.len() == MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    pub fn iter(&self) -> impl Iterator<Item = &Event> {
        self.events.iter()
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Decisions made since the log began, per action of [`ACTIONS`], in that order.
    pub fn totals(&self) -> [(&'static str, u64); ACTIONS.len()] {
        std::array::from_fn(|i| (ACTIONS[i], self.totals[i]))
    }
}

/// Where an instance is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceState {
    /// Asked for, not serving yet (process starting, or not a backend yet).
    Starting,
    /// A backend, not counted by the policy yet (not ready, or inside its warmup).
    Warming,
    /// A backend counted by the policy.
    Ready,
    /// Being scaled in: no new requests, in-flight ones finishing.
    Draining,
}

impl InstanceState {
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceState::Starting => "starting",
            InstanceState::Warming => "warming",
            InstanceState::Ready => "ready",
            InstanceState::Draining => "draining",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct InstanceStatus {
    pub id: String,
    pub addr: String,
    pub state: InstanceState,
    /// Process provider: the instance's pid.
    pub pid: Option<u32>,
    /// Process provider: the CPU it used over the last evaluation, percent of one core.
    pub cpu_percent: Option<f64>,
}

/// An autoscaled upstream now.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub upstream: String,
    pub provider: &'static str,
    pub min: u32,
    pub max: u32,
    pub evaluate_every: Duration,
    /// Instances asked for and not being removed.
    pub current: u32,
    /// What the last decision asked for.
    pub desired: u32,
    pub instances: Vec<InstanceStatus>,
    /// The provider's last error, if its last call failed.
    pub provider_error: Option<String>,
    pub events: Vec<Event>,
}

pub(crate) fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: &'static str, desired: u32, reason: &str, at: u64) -> Event {
        Event {
            at_unix_ms: at,
            repeated: 0,
            last_at_unix_ms: at,
            action,
            current: 2,
            desired,
            unready: 0,
            recommendation: Some(desired),
            targets: Vec::new(),
            reason: reason.to_string(),
        }
    }

    #[test]
    fn identical_holds_collapse_and_the_log_is_bounded() {
        let mut log = EventLog::default();
        log.push(event("none", 2, "at target", 1));
        log.push(event("none", 2, "at target", 2));
        log.push(event("none", 2, "at target", 3));
        assert_eq!(log.len(), 1);
        let first = log.iter().next().expect("one");
        assert_eq!(
            (first.repeated, first.at_unix_ms, first.last_at_unix_ms),
            (2, 1, 3)
        );
        log.push(event("scale_up", 4, "recommended 4", 4));
        log.push(event("scale_up", 4, "recommended 4", 5));
        assert_eq!(log.len(), 3, "changes are never collapsed");
        assert_eq!(
            log.totals(),
            [
                ("scale_up", 2),
                ("scale_down", 0),
                ("none", 3),
                ("manual", 0)
            ],
            "totals count repeats"
        );
        for i in 0..(MAX_EVENTS as u64 * 2) {
            log.push(event("scale_up", 4, "x", 10 + i));
        }
        assert_eq!(log.len(), MAX_EVENTS);
        assert_eq!(
            log.iter().last().map(|e| e.at_unix_ms),
            Some(10 + MAX_EVENTS as u64 * 2 - 1)
        );
    }
}
