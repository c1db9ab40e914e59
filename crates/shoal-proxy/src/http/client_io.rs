//! An HTTP/2 client connection's socket, wrapped to close it when it has been idle too long
//! (hyper's HTTP/2 server has no such timeout): with no request under way, the connection
//! is closed quietly after `idle_timeout` (`header_read_timeout` while nothing has been read
//! from it yet). Any bytes from the client count as activity. It also counts the bytes read
//! and written into the listener's counters.
//!
//! "Under way" is told by [`ConnActivity`]: the pipeline counts a request as started when
//! hyper hands it over and finished when its response body is done ([`RequestActive`]).
//! HTTP/1.1 connections keep their own clocks (`h1/server.rs`) and use a detached
//! [`RequestActive`].

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use shoal_upstream::Deadline;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use crate::snapshot::ListenerStats;

/// Requests started and finished on one connection, shared by the socket wrapper and the
/// pipeline.
#[derive(Debug, Default)]
pub(crate) struct ConnActivity {
    started: AtomicU64,
    finished: AtomicU64,
    /// The socket's reader, parked while a request was under way: when the request ends it
    /// must run again to start the idle clock (hyper will not poll an idle read by itself).
    reader: AtomicWaker,
}

impl ConnActivity {
    pub(crate) fn start(self: &Arc<Self>) -> RequestActive {
        self.started.fetch_add(1, Ordering::Relaxed);
        RequestActive(Some(Arc::clone(self)))
    }

    fn under_way(&self) -> bool {
        self.started.load(Ordering::Relaxed) != self.finished.load(Ordering::Relaxed)
    }
}

/// A request under way on its connection; finished when dropped (with its response body).
#[derive(Debug)]
pub(crate) struct RequestActive(Option<Arc<ConnActivity>>);

impl RequestActive {
    /// For a connection that keeps its own count: shoal's HTTP/1.1 server reads no request
    /// while one is under way, so it needs no mark.
    pub(crate) fn detached() -> RequestActive {
        RequestActive(None)
    }
}

impl Drop for RequestActive {
    fn drop(&mut self) {
        if let Some(activity) = &self.0 {
            activity.finished.fetch_add(1, Ordering::Relaxed);
            activity.reader.wake();
        }
    }
}

pub(crate) struct ClientIo<S> {
    inner: S,
    /// The listener's byte counters (one relaxed add per read and write).
    stats: Option<Arc<ListenerStats>>,
    activity: Arc<ConnActivity>,
    header_timeout: Duration,
    idle_timeout: Duration,
    /// The idle clock is running (no request under way, no bytes since it started).
    idle: bool,
    deadline: Deadline,
    /// When the idle clock runs out.
    deadline_at: Instant,
    /// Nothing has been read on the connection yet.
    fresh: bool,
    timed_out: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> ClientIo<S> {
    pub(crate) fn new(
        inner: S,
        activity: Arc<ConnActivity>,
        header_timeout: Duration,
        idle_timeout: Duration,
    ) -> ClientIo<S> {
        ClientIo {
            inner,
            stats: None,
            activity,
            header_timeout,
            idle_timeout,
            idle: false,
            deadline: Deadline::default(),
            deadline_at: Instant::now() + header_timeout,
            fresh: true,
            timed_out: false,
        }
    }

    /// Counts the bytes read and written into the listener's counters.
    pub(crate) fn counting(mut self, stats: Option<Arc<ListenerStats>>) -> ClientIo<S> {
        self.stats = stats;
        self
    }

    /// No bytes now: start the idle clock unless a request is under way, and tell whether
    /// it ran out.
    fn on_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Registered before the counters are read, so a request ending in between still
        // wakes us.
        self.activity.reader.register(cx.waker());
        if self.activity.under_way() {
            // A request is under way: its own timeouts apply, not ours; its end wakes us.
            self.idle = false;
            return Poll::Pending;
        }
        if !self.idle {
            self.idle = true;
            let wait = if self.fresh {
                self.header_timeout
            } else {
                self.idle_timeout
            };
            self.deadline_at = Instant::now() + wait;
        }
        if self.deadline.poll_until(cx, self.deadline_at).is_pending() {
            return Poll::Pending;
        }
        // Reading end-of-stream makes hyper close the connection.
        self.timed_out = true;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for ClientIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.timed_out {
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let read = buf.filled().len() - before;
                if let Some(stats) = &this.stats {
                    stats.bytes_received.add(read as u64);
                }
                if read > 0 {
                    // Activity: the idle clock starts again at the next wait.
                    this.idle = false;
                    this.fresh = false;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.on_pending(cx),
        }
    }
}

impl<S> ClientIo<S> {
    #[inline]
    fn count_sent(&self, written: &Poll<io::Result<usize>>) {
        if let (Some(stats), Poll::Ready(Ok(n))) = (&self.stats, written) {
            stats.bytes_sent.add(*n as u64);
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for ClientIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.timed_out {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let written = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.count_sent(&written);
        written
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.timed_out {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let written = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.count_sent(&written);
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
