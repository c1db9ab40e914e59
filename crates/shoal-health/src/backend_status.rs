use std::fmt;

/// What the data plane may do with a backend right now. Published by the backend's health
/// task (the one writer) and read by every worker, stored as a `u8` in an `AtomicU8`
/// ([`BackendStatus::as_u8`] / [`BackendStatus::from_u8`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendStatus {
    /// New or recovered and inside its slow-start window: eligible, at a reduced weight
    /// ([`crate::HealthState::weight_factor`]).
    Warming,
    /// Eligible at full weight.
    Ready,
    /// Readiness failing (or never confirmed yet): no new requests; in-flight ones finish.
    NotReady,
    /// Liveness failing, or ejected by outlier detection: no requests.
    Down,
    /// The operator or the autoscaler asked for removal: no new requests until it is removed
    /// (or the drain timeout cuts what is left).
    Draining,
    /// Switched off by the operator.
    Disabled,
}

impl BackendStatus {
    /// Every status, in `as_u8` order.
    pub const ALL: [BackendStatus; 6] = [
        BackendStatus::Warming,
        BackendStatus::Ready,
        BackendStatus::NotReady,
        BackendStatus::Down,
        BackendStatus::Draining,
        BackendStatus::Disabled,
    ];

    /// The snake_case name the admin API, logs and metrics use.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendStatus::Warming => "warming",
            BackendStatus::Ready => "ready",
            BackendStatus::NotReady => "not_ready",
            BackendStatus::Down => "down",
            BackendStatus::Draining => "draining",
            BackendStatus::Disabled => "disabled",
        }
    }

    /// Stable codes: they live in atomics shared across threads, so they never change meaning.
    pub fn as_u8(self) -> u8 {
        match self {
            BackendStatus::Warming => 0,
            BackendStatus::Ready => 1,
            BackendStatus::NotReady => 2,
            BackendStatus::Down => 3,
            BackendStatus::Draining => 4,
            BackendStatus::Disabled => 5,
        }
    }

    /// The inverse of [`BackendStatus::as_u8`]; `None` for a code no status has.
    pub fn from_u8(code: u8) -> Option<BackendStatus> {
        BackendStatus::ALL.get(usize::from(code)).copied()
    }

    /// The inverse of [`BackendStatus::as_str`].
    pub fn parse(name: &str) -> Option<BackendStatus> {
        BackendStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// May a balancer pick this backend for a new request in normal (non-panic) operation?
    pub fn is_eligible(self) -> bool {
        matches!(self, BackendStatus::Warming | BackendStatus::Ready)
    }

    /// May a balancer pick it when the upstream is in panic mode (too few eligible backends,
    /// so health is ignored to spread the load)? Everything except what a person or the
    /// autoscaler took out on purpose: panic overrides health verdicts, never intent.
    pub fn accepts_panic_traffic(self) -> bool {
        !matches!(self, BackendStatus::Disabled | BackendStatus::Draining)
    }
}

impl fmt::Display for BackendStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u8_codes_round_trip_and_unknown_codes_are_none() {
        for s in BackendStatus::ALL {
            assert_eq!(BackendStatus::from_u8(s.as_u8()), Some(s));
        }
        for code in 6..=u8::MAX {
            assert_eq!(BackendStatus::from_u8(code), None);
        }
    }

    #[test]
    fn names_are_snake_case_and_round_trip() {
        let names: Vec<String> = BackendStatus::ALL.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            names,
            [
                "warming",
                "ready",
                "not_ready",
                "down",
                "draining",
                "disabled"
            ]
        );
        for s in BackendStatus::ALL {
            assert_eq!(BackendStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(BackendStatus::parse("up"), None);
    }

    #[test]
    fn eligibility_and_panic_traffic() {
        use BackendStatus::*;
        let eligible: Vec<_> = BackendStatus::ALL
            .into_iter()
            .filter(|s| s.is_eligible())
            .collect();
        assert_eq!(eligible, [Warming, Ready]);
        let panic: Vec<_> = BackendStatus::ALL
            .into_iter()
            .filter(|s| s.accepts_panic_traffic())
            .collect();
        assert_eq!(panic, [Warming, Ready, NotReady, Down]);
    }
}
