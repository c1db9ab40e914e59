//! [`TransitionFeed`]: the health supervisor's status changes, broadcast to whoever listens
//! (the binary's event log, for the admin API and the dashboard).
//!
//! Bounded and lossy on purpose: the supervisor never waits for a listener, and a listener that
//! falls more than [`CAPACITY`] changes behind loses the oldest ones (tokio's broadcast tells it
//! how many). Sending with no listener costs a lock and a clone of nothing.

use std::net::SocketAddr;
use std::time::SystemTime;

use shoal_health::Transition;
use tokio::sync::broadcast;

/// Changes kept for a listener that has not read them yet.
pub const CAPACITY: usize = 256;

/// One backend's status change, as logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransitionEvent {
    pub upstream: String,
    pub addr: SocketAddr,
    pub transition: Transition,
    /// When the supervisor made the change.
    pub at: SystemTime,
}

/// The sending side, shared by the supervisor task and its handle (which subscribes).
#[derive(Debug, Clone)]
pub(crate) struct TransitionFeed {
    tx: broadcast::Sender<TransitionEvent>,
}

impl TransitionFeed {
    pub(crate) fn new() -> TransitionFeed {
        let (tx, _) = broadcast::channel(CAPACITY);
        TransitionFeed { tx }
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<TransitionEvent> {
        self.tx.subscribe()
    }

    pub(crate) fn send(&self, upstream: &str, addr: SocketAddr, transition: &Transition) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        // Err only when every receiver is gone meanwhile: nobody to tell.
        let _ = self.tx.send(TransitionEvent {
            upstream: upstream.to_string(),
            addr,
            transition: transition.clone(),
            at: SystemTime::now(),
        });
    }
}

#[cfg(test)]
mod tests {
    use shoal_health::BackendStatus;

    use super::*;

    fn transition(cause: &str) -> Transition {
        Transition {
            from: BackendStatus::Ready,
            to: BackendStatus::NotReady,
            cause: cause.to_string(),
        }
    }

    #[test]
    fn listeners_get_changes_sent_after_they_subscribe() {
        let feed = TransitionFeed::new();
        let addr: SocketAddr = "127.0.0.1:9001".parse().expect("addr");
        feed.send("app", addr, &transition("before anyone listens"));
        let mut rx = feed.subscribe();
        feed.send("app", addr, &transition("readiness failing"));
        let event = rx.try_recv().expect("one change");
        assert_eq!((event.upstream.as_str(), event.addr), ("app", addr));
        assert_eq!(event.transition.cause, "readiness failing");
        assert!(rx.try_recv().is_err(), "nothing else");
    }

    #[test]
    fn a_slow_listener_loses_the_oldest_changes() {
        let feed = TransitionFeed::new();
        let addr: SocketAddr = "127.0.0.1:9001".parse().expect("addr");
        let mut rx = feed.subscribe();
        for i in 0..CAPACITY + 3 {
            feed.send("app", addr, &transition(&i.to_string()));
        }
        assert!(matches!(
            rx.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(3))
        ));
        let next = rx.try_recv().expect("the oldest kept");
        assert_eq!(next.transition.cause, "3");
    }
}
