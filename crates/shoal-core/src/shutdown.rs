use tokio::sync::watch;

/// The owner's side of a shutdown signal: call [`Shutdown::trigger`] once to ask every task
/// holding a [`ShutdownSignal`] to stop.
#[derive(Debug)]
pub struct Shutdown {
    tx: watch::Sender<bool>,
}

/// A task's side: cheap to clone, `recv().await` resolves once shutdown has been asked for
/// (immediately if it already was).
#[derive(Debug, Clone)]
pub struct ShutdownSignal {
    rx: watch::Receiver<bool>,
}

impl Shutdown {
    pub fn new() -> (Shutdown, ShutdownSignal) {
        let (tx, rx) = watch::channel(false);
        (Shutdown { tx }, ShutdownSignal { rx })
    }

    /// Asks every holder of a signal to stop. Idempotent.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// A new signal tied to this shutdown.
    pub fn signal(&self) -> ShutdownSignal {
        ShutdownSignal {
            rx: self.tx.subscribe(),
        }
    }
}

impl ShutdownSignal {
    /// Resolves when shutdown has been triggered, or when the [`Shutdown`] was dropped.
    pub async fn recv(&mut self) {
        // An error means the sender is gone, which we treat as a shutdown too.
        let _ = self.rx.wait_for(|stop| *stop).await;
    }

    /// True once shutdown has been triggered.
    pub fn is_triggered(&self) -> bool {
        *self.rx.borrow()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_signal_sees_the_trigger() {
        let (shutdown, mut a) = Shutdown::new();
        let mut b = a.clone();
        let mut c = shutdown.signal();
        assert!(!a.is_triggered());
        shutdown.trigger();
        a.recv().await;
        b.recv().await;
        c.recv().await;
        assert!(c.is_triggered());
    }

    #[tokio::test]
    async fn dropping_the_owner_releases_waiters() {
        let (shutdown, mut a) = Shutdown::new();
        drop(shutdown);
        a.recv().await;
    }
}
