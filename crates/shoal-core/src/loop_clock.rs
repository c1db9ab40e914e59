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
    /// Puts the previous reading back even when `poll` panics (tokio catches a task's
    /// panic and the thread goes on: a reading left behind would freeze its clock).
    struct Restore(Option<Instant>);
    impl Drop for Restore {
        fn drop(&mut self) {
            NOW.with(|now| now.set(self.0));
        }
    }
    let _restore = Restore(NOW.with(|now| now.replace(Some(Instant::now()))));
    poll()
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

    #[test]
    fn a_panicking_poll_leaves_no_reading_behind() {
        let caught = std::panic::catch_unwind(|| reading(|| panic!("poll failed")));
        assert!(caught.is_err());
        assert!(NOW.with(Cell::get).is_none(), "the clock is live again");
    }
}
