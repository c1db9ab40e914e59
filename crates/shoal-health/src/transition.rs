use std::fmt;

use crate::BackendStatus;

/// A change of a backend's published status, returned by the input that caused it so the
/// caller logs it exactly once (and publishes the new status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: BackendStatus,
    pub to: BackendStatus,
    /// For people: `"readiness: 3 consecutive failures (last: HTTP 503 ...)"`,
    /// `"ejected: 5 consecutive 5xx (for 30s)"`, `"slow start ended"`.
    pub cause: String,
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}: {}", self.from, self.to, self.cause)
    }
}

/// What [`crate::HealthState::tick`] reports: a status change, or that a draining backend's
/// drain timeout has passed. Drain expiry is not a status (the backend stays `draining`
/// until the caller removes it), hence a separate variant rather than a [`Transition`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TickEvent {
    Transition(Transition),
    /// Reported once: the caller removes the backend now, cutting requests still in flight.
    DrainExpired,
}
