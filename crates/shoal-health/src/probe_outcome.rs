use std::fmt;

/// The verdict of one active check of one backend (readiness plus, when configured,
/// liveness). The reason texts are for people (admin API, logs), not for matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// Readiness passed (and liveness, when there is one).
    Ready,
    /// Alive as far as we know, but not ready: e.g. `HTTP 503`, connection refused.
    NotReady(String),
    /// The liveness probe failed: the backend is treated as dead, not merely busy.
    LivenessFailed(String),
}

impl ProbeOutcome {
    pub fn is_ready(&self) -> bool {
        matches!(self, ProbeOutcome::Ready)
    }

    /// Why the check failed; `None` when it passed.
    pub fn reason(&self) -> Option<&str> {
        match self {
            ProbeOutcome::Ready => None,
            ProbeOutcome::NotReady(reason) | ProbeOutcome::LivenessFailed(reason) => Some(reason),
        }
    }

    /// Short snake_case name for the admin API: `ready`, `not_ready`, `liveness_failed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ProbeOutcome::Ready => "ready",
            ProbeOutcome::NotReady(_) => "not_ready",
            ProbeOutcome::LivenessFailed(_) => "liveness_failed",
        }
    }
}

impl fmt::Display for ProbeOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason() {
            None => f.write_str(self.as_str()),
            Some(reason) => write!(f, "{}: {reason}", self.as_str()),
        }
    }
}
