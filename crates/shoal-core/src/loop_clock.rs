//! A clock read once per poll of a connection's task, not once per question.
//!
//! The request path asks for the time about eight times per request (its start and end for
//! the route's histogram, the backend's response time, the pool's idle ages, the response
//! deadline, the client's idle deadline); each read of the clock costs tens of nanoseconds
//! on a virtual machine. A connection task runs [`reading`] around each of its polls: one
//! read, and every [`now`] during that poll returns it — as nginx updates its time once per
//! turn of its event loop. Within one poll the reading lags the real time by the CPU time
//! of the poll so far (microseconds). Outside such a poll, [`now`] reads the clock.

use std::cell::Cell;
use std::time::Instant;

thread_local! {
    static NOW: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The reading of the poll under way, else the clock.
#[inline]
pub fn now() -> Instant {
    NOW.with(Cell::get).unwrap_or_else(Instant::now)
}

/// Runs `poll` with [`now`] fixed at one fresh reading (the previous one is restored
/// afterwards, so readings nest).
#[inline]
pub fn reading<T>(poll: impl FnOnce() -> T) -> T {
    let previous = NOW.with(|now| now.replace(Some(Instant::now())));
    let result = poll();
    NOW.with(|now| now.set(previous));
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_holds_for_its_poll_only() {
        let fixed = reading(|| {
            let a = now();
            std::thread::sleep(std::time::Duration::from_millis(2));
            assert_eq!(now(), a, "one reading during the poll");
            a
        });
        let after = now();
        assert!(after.duration_since(fixed) >= std::time::Duration::from_millis(2));
        assert!(NOW.with(Cell::get).is_none(), "no reading outside a poll");
    }
}
