//! A timer for "nothing happened before then", kept across waits and moved lazily. A fresh
//! timer per wait costs a timer-wheel insert and remove; this one is reset only when it must
//! fire earlier than it is set for, or when it fired before the deadline asked for now
//! (set for an earlier wait) — about once per timeout period, not once per request. Used by
//! the client connections' header and idle clocks, request-body and response deadlines.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::time::{Instant, Sleep};

#[derive(Debug, Default)]
pub struct Deadline {
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Deadline {
    /// Ready once `until` has passed; until then the task is woken when it may have.
    pub fn poll_until(&mut self, cx: &mut Context<'_>, until: Instant) -> Poll<()> {
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(until)));
        if sleep.deadline() > until {
            sleep.as_mut().reset(until);
        }
        loop {
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if Instant::now() >= until {
                return Poll::Ready(());
            }
            // Fired for an earlier wait: on to this one's deadline.
            sleep.as_mut().reset(until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn fires_at_the_latest_deadline_asked_for() {
        let mut deadline = Deadline::default();
        let start = Instant::now();
        poll_fn(|cx| deadline.poll_until(cx, start + Duration::from_secs(1))).await;
        assert_eq!(Instant::now(), start + Duration::from_secs(1));
        // A later deadline after an earlier one: the timer moves on, not fires at once.
        let later = start + Duration::from_secs(5);
        poll_fn(|cx| deadline.poll_until(cx, later)).await;
        assert_eq!(Instant::now(), later);
        // An earlier deadline than the timer's: pulled in.
        let mut deadline = Deadline::default();
        let now = Instant::now();
        let _ =
            poll_fn(|cx| Poll::Ready(deadline.poll_until(cx, now + Duration::from_secs(9)))).await;
        poll_fn(|cx| deadline.poll_until(cx, now + Duration::from_secs(2))).await;
        assert_eq!(Instant::now(), now + Duration::from_secs(2));
    }
}
