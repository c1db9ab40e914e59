//! One client connection served as HTTP/1.1, request after request, in the connection's own
//! task: read a head, run the request path on it, write the response, and again — the
//! pipeline future is polled right here, so a request costs no task, channel or wake-up
//! beyond its own socket's.
//!
//! - Timeouts: a fresh connection must send its first head within `header_read_timeout`,
//!   else it is closed quietly; once part of a head has arrived the rest must follow in that
//!   time, else `408` and close (a slow drip cannot stretch it: the clock starts once); a
//!   connection with no request under way is closed quietly after `idle_timeout`. One timer
//!   per connection, moved only when it fires early (once per timeout period, not per
//!   request).
//! - A head that cannot be served gets its status (400, 414, 431, 505) from
//!   `raw_response`, then the connection closes after a short linger, so that the answer is
//!   not lost to a reset from unread bytes.
//! - Pipelined requests are answered in order; bytes after a head stay in the buffer.
//! - Shutdown: an idle connection closes at once; a request under way finishes and its
//!   response says `Connection: close`.
//! - A 101 of the request path hands the socket (and any bytes the client sent after its
//!   upgrade request) to the WebSocket tunnel.
//! - An HTTP/2 preface on a fresh connection is not ours: [`serve`] returns the connection
//!   so that the caller hands it to the HTTP/2 server.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Method, Request, StatusCode, Version};
use shoal_core::ShutdownSignal;
use shoal_upstream::Deadline;
use shoal_upstream::UpstreamBody;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::conn_io::{lock, BodyState, ConnIo, H1Body, Slot};
use super::request_head::{self, BodyFraming, RequestHead};
use super::response_writer::{write_response, ResponseMode};
use crate::http::client_io::RequestActive;
use crate::http::connection::ConnContext;
use crate::http::error_response::raw_response;
use crate::http::{pipeline, tunnel};
use shoal_upstream::h1::ChunkedDecoder;

/// What HTTP/2's connection preface starts with.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n";
/// How long a refused connection is given to take its answer before it is closed.
const LINGER: Duration = Duration::from_secs(1);
/// Most bytes read and dropped while lingering.
const LINGER_BYTES: usize = 256 * 1024;

/// A listener's HTTP/1 settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct H1Limits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_head: usize,
}

/// How the connection ended.
pub(crate) enum Served<S> {
    Done,
    /// The client spoke HTTP/2 (its preface is in the buffer).
    Http2(ConnIo<S>),
}

/// The shutdown signal as a connection sees it. Its future is polled once, to register the
/// connection's task (whose waker never changes), and after that only when shutdown has
/// come: polling it on every wait would take its lock on every request.
pub(crate) struct Stop {
    signal: ShutdownSignal,
    wait: Pin<Box<dyn Future<Output = ()> + Send>>,
    registered: bool,
    fired: bool,
}

impl Stop {
    pub(crate) fn new(signal: ShutdownSignal) -> Stop {
        let mut waiting = signal.clone();
        Stop {
            signal,
            wait: Box::pin(async move { waiting.recv().await }),
            registered: false,
            fired: false,
        }
    }

    /// True once shutdown has been asked for; until then, makes sure it wakes the task.
    fn poll(&mut self, cx: &mut Context<'_>) -> bool {
        if self.fired {
            return true;
        }
        if !self.registered || self.signal.is_triggered() {
            self.registered = true;
            self.fired = self.wait.as_mut().poll(cx).is_ready();
        }
        self.fired
    }

    /// True once shutdown has been asked for (no waking).
    fn is_set(&mut self) -> bool {
        self.fired |= self.signal.is_triggered();
        self.fired
    }

    /// Resolves once shutdown has been asked for.
    pub(crate) async fn wait(&mut self) {
        poll_fn(|cx| {
            if self.poll(cx) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

/// This poll's time (see `shoal_core::loop_clock`), for deadlines.
fn poll_time() -> Instant {
    Instant::from_std(shoal_core::loop_clock::now())
}

// Unboxed on purpose: one is returned per request and taken apart at once; a box would be
// an allocation per request for nothing.
#[allow(clippy::large_enum_variant)]
enum HeadRead {
    Head(RequestHead),
    Closed,
    Refused(StatusCode),
    Http2,
}

/// Serves requests on `conn` until the client is done, a timeout or an error ends it, or
/// shutdown closes it.
pub(crate) async fn serve<S>(
    conn: ConnIo<S>,
    ctx: &Arc<ConnContext>,
    stop: &mut Stop,
    limits: H1Limits,
) -> Served<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut conn = conn;
    let mut deadline = Deadline::default();
    let mut out = Vec::with_capacity(1024);
    let mut first = true;
    loop {
        let head = match read_head(&mut conn, &mut deadline, first, stop, &limits).await {
            HeadRead::Head(head) => head,
            HeadRead::Closed => return Served::Done,
            HeadRead::Http2 => return Served::Http2(conn),
            HeadRead::Refused(status) => {
                Box::pin(refuse(&mut conn, status)).await;
                return Served::Done;
            }
        };
        first = false;
        let RequestHead {
            parts,
            body,
            keep_alive,
            expect_continue,
            trailers,
        } = head;
        let mut mode = ResponseMode {
            head_request: parts.method == Method::HEAD,
            http10: parts.version == Version::HTTP_10,
            keep_alive,
            trailers,
            send_timeout: limits.idle_timeout,
        };
        let (mut slot, body) = match body {
            BodyFraming::None => (Slot::Owned(conn), UpstreamBody::Empty),
            framing => {
                conn.begin_body(
                    match framing {
                        BodyFraming::Length(n) => BodyState::Length(n),
                        _ => BodyState::Chunked(ChunkedDecoder::default()),
                    },
                    expect_continue,
                );
                let shared = Arc::new(Mutex::new(conn));
                let body = H1Body::new(Arc::clone(&shared));
                (Slot::Shared(shared), UpstreamBody::Stream(Box::new(body)))
            }
        };

        let request = Request::from_parts(parts, body);
        // Shutdown lets the request finish; the connection closes after it.
        let mut recording = pipeline::Recording::begin(&request, ctx);
        let mut response =
            pipeline::serve(request, ctx, RequestActive::detached(), &mut recording.note).await;
        recording.finish(&mut response, ctx);
        if stop.is_set() {
            mode.keep_alive = false;
        }
        // With the request body done with (its reader dropped), what is left of it is known
        // now: skipped when buffered, else the answer must say the connection closes.
        slot = slot.reclaim();
        match &mut slot {
            Slot::Owned(conn) => {
                if !conn.skip_buffered_body() {
                    mode.keep_alive = false;
                }
            }
            // Still being read (an HTTP/2 upstream streaming it): whatever happens to it,
            // this connection will not be reused.
            Slot::Shared(_) => mode.keep_alive = false,
        }
        slot.lock().cancel_continue();
        let status = response.status();
        let written = write_response(&mut slot, &mut out, response, mode).await;
        // The request body is gone with the request path's future unless something still
        // holds it (an HTTP/2 upstream's stream): then its reading fails from now on and the
        // socket is shut, so that nothing outlives this task's hold on the connection.
        let mut next = match slot.reclaim() {
            Slot::Owned(conn) => conn,
            Slot::Shared(shared) => {
                lock(&shared).abandon();
                return Served::Done;
            }
        };
        if let Err(e) = written {
            tracing::debug!(peer = %ctx.peer, error = %e, "response not delivered");
            return Served::Done;
        }
        if status == StatusCode::SWITCHING_PROTOCOLS {
            if let Some(pending) = ctx.tunnel.take() {
                let (client, early) = next.into_tunnel();
                // Boxed: a tunnel's state should not be in every connection's.
                Box::pin(tunnel::run(pending, client, &early)).await;
            }
            return Served::Done;
        }
        if matches!(written, Ok(false)) {
            Box::pin(close(&mut next)).await;
            return Served::Done;
        }
        // A body the request path did not read must be skipped before the next head; if it
        // is not all here yet, the connection closes instead of waiting for it. (Already done
        // above unless the body was still being read while the response was written.)
        if !next.skip_buffered_body() || stop.is_set() {
            Box::pin(close(&mut next)).await;
            return Served::Done;
        }
        conn = next;
    }
}

/// Reads the next request head, waiting for it within the connection's timeouts.
async fn read_head<S>(
    conn: &mut ConnIo<S>,
    deadline: &mut Deadline,
    first: bool,
    stop: &mut Stop,
    limits: &H1Limits,
) -> HeadRead
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut idle_until: Option<Instant> = None;
    let mut head_until: Option<Instant> = None;
    // How much of the buffer an unfinished parse has seen: a head ends with a line end, so
    // bytes without one cannot finish it, and a client trickling a large head byte by byte
    // must not make every read parse it all again.
    let mut seen = 0;
    poll_fn(|cx| loop {
        if !conn.rbuf.is_empty() {
            let fresh = conn.rbuf.get(seen..).unwrap_or_default();
            let may_end = fresh.contains(&b'\n') || conn.rbuf.len() > limits.max_head;
            if first
                && conn
                    .rbuf
                    .starts_with(&H2_PREFACE[..conn.rbuf.len().min(H2_PREFACE.len())])
            {
                if conn.rbuf.len() >= H2_PREFACE.len() {
                    return Poll::Ready(HeadRead::Http2);
                }
            } else if may_end {
                match request_head::parse(&mut conn.rbuf, limits.max_head) {
                    Ok(Some(head)) => return Poll::Ready(HeadRead::Head(head)),
                    Ok(None) => seen = conn.rbuf.len(),
                    Err(status) => return Poll::Ready(HeadRead::Refused(status)),
                }
            }
        }
        match conn.poll_fill(cx) {
            Poll::Ready(Ok(0) | Err(_)) => return Poll::Ready(HeadRead::Closed),
            Poll::Ready(Ok(_)) => continue,
            Poll::Pending => {}
        }
        if conn.rbuf.is_empty() {
            // Between requests: shutdown and the idle clock may close the connection.
            if stop.poll(cx) {
                return Poll::Ready(HeadRead::Closed);
            }
            let wait = if first {
                limits.header_timeout
            } else {
                limits.idle_timeout
            };
            let until = *idle_until.get_or_insert_with(|| poll_time() + wait);
            if deadline.poll_until(cx, until).is_ready() {
                return Poll::Ready(HeadRead::Closed);
            }
        } else {
            let until = *head_until.get_or_insert_with(|| poll_time() + limits.header_timeout);
            if deadline.poll_until(cx, until).is_ready() {
                return Poll::Ready(HeadRead::Refused(StatusCode::REQUEST_TIMEOUT));
            }
        }
        return Poll::Pending;
    })
    .await
}

/// Answers a head that cannot be served, then closes after a short linger: the client's
/// unread bytes would otherwise make the close a reset that can destroy the answer in flight.
async fn refuse<S>(conn: &mut ConnIo<S>, status: StatusCode)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let answer = raw_response(status);
    let mut done = 0;
    let written = tokio::time::timeout(
        LINGER,
        poll_fn(|cx| conn.poll_write_all(cx, &answer, &mut done)),
    )
    .await;
    if matches!(written, Ok(Ok(()))) {
        close(conn).await;
    }
}

/// Closes our side, then reads and drops what the client still sends (a body nobody read)
/// for a moment: closing with unread bytes would reset the connection, and a reset can
/// destroy the answer still on its way to the client.
async fn close<S>(conn: &mut ConnIo<S>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let _ = tokio::time::timeout(LINGER, async {
        conn.io.shutdown().await?;
        let mut sink = [0u8; 4096];
        let mut dropped = 0;
        while dropped < LINGER_BYTES {
            match conn.io.read(&mut sink).await? {
                0 => break,
                n => dropped += n,
            }
        }
        Ok::<(), std::io::Error>(())
    })
    .await;
}
