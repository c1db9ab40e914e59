//! [`FilterStats`]: what one filter counts for `/metrics` — the requests it refused, by the
//! status they were answered with, and the requests it answered itself (a redirect, a
//! configured response, a CORS preflight). Only the paths that end a request count: a request
//! a filter lets through costs nothing here.
//!
//! The counters belong to the filter's name in the long-lived [`crate::Gateway`], so a reload
//! that keeps a filter (same name, same kind) keeps its counts.

use http::StatusCode;
use shoal_metrics::Counter;

use crate::exchange::Answer;

/// The statuses filters refuse with, each with its own counter; any other lands in the last
/// slot, reported as `other`.
pub const DENY_STATUSES: [u16; 10] = [400, 401, 403, 405, 413, 414, 415, 429, 431, 503];

#[derive(Debug, Default)]
pub struct FilterStats {
    /// By [`DENY_STATUSES`] index, then one for any other status.
    denied: [Counter; DENY_STATUSES.len() + 1],
    answered: Counter,
}

impl FilterStats {
    /// Counts how the filter ended a request.
    pub fn record(&self, answer: &Answer) {
        match answer {
            Answer::Reject(rejection) => self.record_denied(rejection.status),
            Answer::Reply(_) => self.answered.inc(),
        }
    }

    /// Counts a refusal answered with `status`.
    pub fn record_denied(&self, status: StatusCode) {
        let slot = DENY_STATUSES
            .iter()
            .position(|s| *s == status.as_u16())
            .unwrap_or(DENY_STATUSES.len());
        if let Some(counter) = self.denied.get(slot) {
            counter.inc();
        }
    }

    /// Requests refused with `status` (one of [`DENY_STATUSES`]).
    pub fn denied(&self, status: u16) -> u64 {
        DENY_STATUSES
            .iter()
            .position(|s| *s == status)
            .and_then(|i| self.denied.get(i))
            .map_or(0, Counter::get)
    }

    /// Requests refused with a status not in [`DENY_STATUSES`].
    pub fn denied_other(&self) -> u64 {
        self.denied.get(DENY_STATUSES.len()).map_or(0, Counter::get)
    }

    /// Every refusal count: `(status, count)` for each of [`DENY_STATUSES`], in that order.
    pub fn denied_by_status(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        DENY_STATUSES
            .iter()
            .zip(self.denied.iter())
            .map(|(status, counter)| (*status, counter.get()))
    }

    /// Requests the filter answered itself rather than refusing them.
    pub fn answered(&self) -> u64 {
        self.answered.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::{Rejection, Reply};

    #[test]
    fn refusals_count_by_status_and_replies_apart() {
        let stats = FilterStats::default();
        let reject = |status| Answer::Reject(Rejection::new(status, "no"));
        stats.record(&reject(StatusCode::UNAUTHORIZED));
        stats.record(&reject(StatusCode::UNAUTHORIZED));
        stats.record(&reject(StatusCode::TOO_MANY_REQUESTS));
        stats.record(&reject(StatusCode::IM_A_TEAPOT));
        stats.record(&Answer::Reply(Reply {
            status: StatusCode::MOVED_PERMANENTLY,
            headers: Vec::new(),
            body: bytes::Bytes::new(),
        }));
        assert_eq!(stats.denied(401), 2);
        assert_eq!(stats.denied(429), 1);
        assert_eq!(stats.denied(403), 0);
        assert_eq!(stats.denied(418), 0, "not a listed status");
        assert_eq!(stats.denied_other(), 1);
        assert_eq!(stats.answered(), 1);
        let all: Vec<(u16, u64)> = stats.denied_by_status().collect();
        assert_eq!(all.len(), DENY_STATUSES.len());
        assert_eq!(all.iter().map(|(_, n)| n).sum::<u64>(), 3);
    }
}
