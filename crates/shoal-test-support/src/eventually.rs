//! [`eventually`]: bounded polling for conditions that real processes make true in their own
//! time (a child process listening, a health checker ejecting a backend).
//!
//! It is not a substitute for synchronisation: when the test can await the event itself
//! (a channel, a join handle, a readiness signal), it must. Polling is for the cases where the
//! only way to observe the state is to look at it.

use std::future::Future;
use std::panic::Location;
use std::time::{Duration, Instant};

/// How often the condition is looked at: short, so a passing test does not wait for nothing.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Polls `condition` every 10 ms until it returns `true`; panics, naming the caller's line,
/// if it has not within `timeout`.
///
/// The deadline is measured on the real clock, so a test running on paused tokio time still
/// gets a real bound (and should rarely need this helper at all).
///
/// ```ignore
/// eventually(Duration::from_secs(5), || async { backend.hits() == 3 }).await;
/// ```
#[track_caller]
pub fn eventually<F, Fut>(timeout: Duration, condition: F) -> impl Future<Output = ()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    // Captured here: `#[track_caller]` does not reach into the async block.
    let caller = Location::caller();
    eventually_at(timeout, condition, caller)
}

async fn eventually_at<F, Fut>(
    timeout: Duration,
    mut condition: F,
    caller: &'static Location<'static>,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    let mut polls = 0u64;
    loop {
        polls += 1;
        if condition().await {
            return;
        }
        if Instant::now() >= deadline {
            panic!(
                "eventually: condition at {caller} still false after {timeout:?} ({polls} polls)"
            );
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn returns_once_the_condition_holds() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        eventually(Duration::from_secs(5), || {
            let counter = counter.clone();
            async move { counter.fetch_add(1, Ordering::SeqCst) + 1 >= 3 }
        })
        .await;
        assert_eq!(
            calls.load(Ordering::SeqCst),
            3,
            "polls until true, then stops"
        );
    }

    #[tokio::test]
    async fn sees_a_change_made_by_another_task() {
        let flag = Arc::new(AtomicUsize::new(0));
        let setter = flag.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            setter.store(1, Ordering::SeqCst);
        });
        eventually(Duration::from_secs(5), || async {
            flag.load(Ordering::SeqCst) == 1
        })
        .await;
    }

    #[tokio::test]
    async fn panics_with_the_callers_location_on_timeout() {
        let line = line!() + 2;
        let outcome = tokio::spawn(async {
            eventually(Duration::from_millis(50), || async { false }).await;
        })
        .await;
        let panic = outcome.unwrap_err().into_panic();
        let message = panic.downcast_ref::<String>().unwrap();
        assert!(message.contains("still false after 50ms"), "{message}");
        assert!(
            message.contains(&format!("eventually.rs:{line}")),
            "{message}"
        );
    }
}
