//! A backend's HTTP/2 connections, one set per worker (a connection's task runs on the
//! worker that opened it, so workers never share one).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::h2_conn::{H2Conn, StreamSlot};
use crate::connect_error::ConnectError;
use crate::transport::Transport;

/// Most HTTP/2 connections one worker keeps to one backend. Past it, new streams go to the
/// least busy connection even over the backend's limit (hyper queues them until a stream
/// ends): a backend announcing a limit of 0, or a flood, cannot make shoal open connections
/// without end.
const MAX_CONNS: usize = 16;

#[derive(Debug)]
pub struct H2Pool {
    slots: Box<[Slot]>,
}

#[derive(Debug, Default)]
struct Slot {
    conns: Mutex<Vec<H2Conn>>,
    /// Held while one request of this worker connects; the others wait for that connection
    /// rather than each opening their own.
    connecting: tokio::sync::Mutex<()>,
    /// Connect attempts finished, and why the last one failed (None: it succeeded). A request
    /// that waited through a failed attempt fails with it rather than trying again at once.
    attempts: AtomicU64,
    last_failure: Mutex<Option<ConnectError>>,
}

impl H2Pool {
    pub(crate) fn new(workers: usize) -> H2Pool {
        H2Pool {
            slots: (0..workers.max(1)).map(|_| Slot::default()).collect(),
        }
    }

    /// A stream on a connection of `worker` to `addr`, made by `transport`: on an open
    /// connection with room, else on a new one.
    pub(crate) async fn stream(
        &self,
        worker: usize,
        transport: &Transport,
        addr: SocketAddr,
        connect_timeout: Duration,
        keepalive_timeout: Duration,
    ) -> Result<(H2Conn, StreamSlot), ConnectError> {
        let Some(slot) = self.slots.get(worker % self.slots.len()) else {
            return Err(ConnectError::Io(
                addr,
                std::io::Error::other("no such worker"),
            ));
        };
        if let Some(taken) = self.take(slot, transport.id(), false) {
            return Ok(taken);
        }
        let seen = slot.attempts.load(Ordering::Relaxed);
        let _connecting = slot.connecting.lock().await;
        // Another request may have connected (or failed to) while this one waited.
        if let Some(taken) = self.take(slot, transport.id(), false) {
            return Ok(taken);
        }
        if slot.attempts.load(Ordering::Relaxed) != seen {
            if let Some(failure) = lock(&slot.last_failure).as_ref() {
                return Err(failure.duplicate());
            }
        }
        if lock(&slot.conns).len() >= MAX_CONNS {
            if let Some(taken) = self.take(slot, transport.id(), true) {
                return Ok(taken);
            }
        }
        // A new connection comes with the backend's stream limit known (see
        // `H2Conn::settings`): streams are only ever taken under the backend's real limit.
        let connected = H2Conn::connect(transport, addr, connect_timeout, keepalive_timeout).await;
        slot.attempts.fetch_add(1, Ordering::Relaxed);
        match connected {
            Ok(conn) => {
                *lock(&slot.last_failure) = None;
                let stream = conn.take();
                lock(&slot.conns).push(conn.clone());
                Ok((conn, stream))
            }
            Err(e) => {
                *lock(&slot.last_failure) = Some(e.duplicate());
                Err(e)
            }
        }
    }

    /// A stream on the oldest connection with room (`force`: on the least busy one even
    /// without room), dropping connections that are closed or of another transport.
    fn take(&self, slot: &Slot, transport: u64, force: bool) -> Option<(H2Conn, StreamSlot)> {
        let mut conns = lock(&slot.conns);
        conns.retain(|c| !c.is_closed() && c.transport_id() == transport);
        // Fill the oldest connection with room first: fewer connections stay busy, and the
        // others go idle and close.
        let chosen = if force {
            conns.iter().min_by_key(|c| c.active())
        } else {
            conns.iter().find(|c| c.active() < c.max_streams())
        }?;
        let stream = if force {
            chosen.take()
        } else {
            chosen.try_take()?
        };
        Some((chosen.clone(), stream))
    }

    /// Connections open now, across workers (for tests and the admin API).
    pub fn connections(&self) -> usize {
        self.slots
            .iter()
            .map(|s| lock(&s.conns).iter().filter(|c| !c.is_closed()).count())
            .sum()
    }

    /// Forgets every connection (their streams finish; idle ones close).
    pub(crate) fn clear(&self) {
        for slot in self.slots.iter() {
            lock(&slot.conns).clear();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::test_backend::TestBackend;
    use super::*;

    const WAIT: Duration = Duration::from_secs(5);

    /// Six requests at once, cold, to a backend allowing two streams per connection that
    /// answers none until all six are in flight: each gets a stream of its own under the
    /// backend's real limit (none refused, none held back in h2), on three connections.
    #[tokio::test]
    async fn concurrent_requests_beyond_the_backends_limit_open_connections() {
        let backend = Arc::new(TestBackend::start(2, 6, None).await);
        let pool = Arc::new(H2Pool::new(1));
        let transport = Arc::new(Transport::plain());
        let mut requests = Vec::new();
        for _ in 0..6 {
            let (backend, pool, transport) = (
                Arc::clone(&backend),
                Arc::clone(&pool),
                Arc::clone(&transport),
            );
            requests.push(tokio::spawn(async move {
                let (conn, slot) = pool
                    .stream(0, &transport, backend.addr, WAIT, Duration::from_secs(60))
                    .await
                    .expect("a stream");
                let response = conn.send(backend.get()).await;
                drop(slot);
                response
            }));
        }
        for request in requests {
            let response = tokio::time::timeout(WAIT, request)
                .await
                .expect("answered: all six in flight at once")
                .expect("task")
                .expect("not refused: no stream is taken above the backend's limit");
            assert_eq!(response.status(), 200);
        }
        assert_eq!(backend.connections(), 3);
        assert_eq!(pool.connections(), 3);
    }
}
