//! A client connection's socket, wrapped to enforce two timeouts hyper does not enforce the
//! way a proxy needs:
//!
//! - **header read** (`header_read_timeout`): once the first byte of a request arrives, its
//!   whole head must follow in time, else the client gets `408 Request Timeout` and the
//!   connection closes. A slow-drip client cannot extend it: the deadline is set at the first
//!   byte. A fresh connection that sends nothing is closed quietly after the same time.
//! - **idle keep-alive** (`idle_timeout`): a connection with no request under way is closed
//!   quietly after this long.
//!
//! "Under way" is told by [`ConnActivity`]: the pipeline counts a request as started when
//! hyper hands it over (its head is complete) and finished when its response body is done.
//! HTTP/2 connections (told by their preface, or by ALPN over TLS) never get an HTTP/1 408;
//! any bytes on them count as activity.
//!
//! The stream is a `TcpStream` on http listeners and a TLS stream on https listeners; the
//! wrapper is generic over it, so plain connections pay nothing for TLS existing.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::error_response::raw_response;
use crate::snapshot::ListenerStats;

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

/// Requests started and finished on one connection, shared by the socket wrapper and the
/// pipeline.
#[derive(Debug, Default)]
pub(crate) struct ConnActivity {
    started: AtomicU64,
    finished: AtomicU64,
    /// The socket's reader, parked while a request was under way: when the request ends it
    /// must run again to start the idle clock (hyper will not poll an idle read by itself).
    reader: AtomicWaker,
    /// Set when hyper handed a request over; cleared when bytes of a new request arrive. A
    /// response written while it is clear is hyper's own answer to a head it could not
    /// parse.
    handed_over: AtomicBool,
}

impl ConnActivity {
    pub(crate) fn start(self: &Arc<Self>) -> RequestActive {
        self.handed_over.store(true, Ordering::Relaxed);
        self.started.fetch_add(1, Ordering::Relaxed);
        RequestActive(Some(Arc::clone(self)))
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    Off,
    /// Waiting for a request to begin; closing quietly when it fires.
    Idle,
    /// Part of a head has arrived (the value: requests started when it did).
    Head(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Unknown,
    Http1,
    Http2,
}

pub(crate) struct ClientIo<S> {
    inner: S,
    /// The listener's byte counters (one relaxed add per read and write).
    stats: Option<Arc<ListenerStats>>,
    activity: Arc<ConnActivity>,
    header_timeout: Duration,
    idle_timeout: Duration,
    timer: Timer,
    deadline: Pin<Box<Sleep>>,
    /// When the running clock runs out; the timer above may lag behind it.
    deadline_at: Instant,
    protocol: Protocol,
    /// Requests started when the connection last had one under way; a change means a new
    /// request began, so the idle clock restarts.
    fresh: bool,
    timed_out: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> ClientIo<S> {
    /// Counts the bytes read and written into the listener's counters.
    pub(crate) fn counting(mut self, stats: Option<Arc<ListenerStats>>) -> ClientIo<S> {
        self.stats = stats;
        self
    }

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
            timer: Timer::Off,
            deadline: Box::pin(tokio::time::sleep(header_timeout)),
            deadline_at: Instant::now() + header_timeout,
            protocol: Protocol::Unknown,
            fresh: true,
            timed_out: false,
        }
    }

    /// The connection speaks HTTP/2 (negotiated by ALPN), whatever its first bytes.
    pub(crate) fn http2(mut self) -> Self {
        self.protocol = Protocol::Http2;
        self
    }

    /// Sets the clock. Only the deadline is recorded here; the timer itself is moved when
    /// the connection actually waits (`on_pending`), so a request whose head arrives in one
    /// read — nearly all of them — never touches the timer wheel.
    fn arm(&mut self, timer: Timer, after: Duration) {
        self.timer = timer;
        self.deadline_at = Instant::now() + after;
    }

    /// Bytes arrived: maybe the start of a request head.
    fn on_bytes(&mut self) {
        let started = self.activity.started.load(Ordering::Relaxed);
        let finished = self.activity.finished.load(Ordering::Relaxed);
        match self.protocol {
            Protocol::Http2 => self.timer = Timer::Off,
            _ if started != finished => {}
            _ => {
                self.activity.handed_over.store(false, Ordering::Relaxed);
                if !matches!(self.timer, Timer::Head(s) if s == started) {
                    self.arm(Timer::Head(started), self.header_timeout);
                }
            }
        }
        self.fresh = false;
    }

    /// No bytes now: decide which clock runs, and whether it ran out.
    fn on_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Registered before the counters are read, so a request ending in between still
        // wakes us.
        self.activity.reader.register(cx.waker());
        let started = self.activity.started.load(Ordering::Relaxed);
        let finished = self.activity.finished.load(Ordering::Relaxed);
        if started != finished {
            // A request is under way: its own timeouts apply, not ours; its end wakes us.
            self.timer = Timer::Off;
            return Poll::Pending;
        }
        match self.timer {
            Timer::Head(s) if s != started => self.timer = Timer::Off,
            _ => {}
        }
        if self.timer == Timer::Off {
            let wait = if self.fresh {
                self.header_timeout
            } else {
                self.idle_timeout
            };
            self.arm(Timer::Idle, wait);
        }
        // The timer may be later than the deadline (armed for an earlier, longer wait): pull
        // it in. If it is earlier (the deadline moved on since), it fires, and is pushed out
        // below; that happens once per idle period, not once per request.
        if self.deadline.deadline() > self.deadline_at {
            self.deadline.as_mut().reset(self.deadline_at);
        }
        loop {
            if self.deadline.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if Instant::now() >= self.deadline_at {
                break;
            }
            self.deadline.as_mut().reset(self.deadline_at);
        }
        self.timed_out = true;
        if matches!(self.timer, Timer::Head(_)) && self.protocol == Protocol::Http1 {
            // Best effort: the reply is tiny and the socket's buffer is empty after a read
            // wait, so one write almost always takes it all; if not, the client still sees
            // the close.
            let _ = Pin::new(&mut self.inner)
                .poll_write(cx, &raw_response(StatusCode::REQUEST_TIMEOUT));
        }
        // Reading end-of-stream makes hyper close the connection.
        Poll::Ready(Ok(()))
    }
}

impl<S> ClientIo<S> {
    /// The status of a response hyper writes on its own (no request was handed over since
    /// the last bytes arrived): its answer to an unparseable head, which shoal replaces
    /// with a body naming the cause and a request id, like every other error.
    fn hyper_error_status(&self, buf: &[u8]) -> Option<StatusCode> {
        if self.protocol != Protocol::Http1 || self.activity.handed_over.load(Ordering::Relaxed) {
            return None;
        }
        let code = buf.strip_prefix(b"HTTP/1.1 ")?.get(..3)?;
        let status = StatusCode::from_bytes(code).ok()?;
        (status.is_client_error() || status.is_server_error()).then_some(status)
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
                let filled = &buf.filled()[before..];
                if let Some(stats) = &this.stats {
                    stats.bytes_received.add(filled.len() as u64);
                }
                if !filled.is_empty() {
                    if this.protocol == Protocol::Unknown {
                        // hyper's first read is large enough for the whole preface.
                        this.protocol = if filled.starts_with(H2_PREFACE) {
                            Protocol::Http2
                        } else {
                            Protocol::Http1
                        };
                    }
                    this.on_bytes();
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
        if let Some(status) = this.hyper_error_status(buf) {
            // Same best effort as the 408; hyper closes the connection after its error.
            let _ = Pin::new(&mut this.inner).poll_write(cx, &raw_response(status));
            this.timed_out = true;
            return Poll::Ready(Ok(buf.len()));
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
        if let Some(first) = bufs.iter().find(|b| !b.is_empty()) {
            if let Some(status) = this.hyper_error_status(first) {
                let _ = Pin::new(&mut this.inner).poll_write(cx, &raw_response(status));
                this.timed_out = true;
                return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
            }
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
