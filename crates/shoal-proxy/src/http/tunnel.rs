//! A WebSocket tunnel: after the backend's 101, bytes are copied both ways between the
//! client connection and the backend connection, untouched, until:
//!
//! - both sides have finished: a half-close travels (one side's end of sending shuts the
//!   other side's socket for writing, and the opposite direction carries on), or one side
//!   finished after the WebSocket close handshake (a Close frame went each way);
//! - a socket fails: both are closed;
//! - nothing moved either way for the upstream's `ws_idle_timeout`;
//! - the backend's drain (or shoal's shutdown) reached this tunnel's turn: a drain closes
//!   the tunnels of a backend one by one over its `drain_timeout` (shoal-upstream's tunnel
//!   registry), not all at once, so their clients do not reconnect in one storm.
//!
//! When shoal ends a tunnel itself (idle, drain), it closes it like a WebSocket endpoint going
//! away: each direction first finishes the frame in flight (at most [`FINISH_FRAME`]; bytes
//! of later frames are dropped), then each side gets a Close frame with status 1001 and a
//! reason (masked towards the backend, which expects client frames) — only where the stream
//! is at a frame boundary and that side has not been sent a Close already, so the frame can
//! never land inside another one ([`super::ws_frames`]) — then a FIN. The sockets are kept
//! for at most [`CLOSE_LINGER`] while the peers answer (their Close replies are read and
//! dropped) and close their side, so the close does not turn into a reset that could
//! destroy the Close frame in a peer's receive buffer. Where a boundary is not reached, the
//! side just gets the FIN.
//!
//! The tunnel holds for its whole life the backend's in-flight mark (least_conn counts it,
//! a drain waits for it), its place in the backend's tunnel registry, and the client
//! connection's "request under way" mark (so the listener's keep-alive idle timeout does not
//! apply; `ws_idle_timeout` does). It runs inside the client connection's own task, which
//! holds the connection's place in the worker's count: graceful shutdown waits for it.

use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use shoal_upstream::BackendStream;
use shoal_upstream::{InFlight, OpenTunnel};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::Instant;

use super::client_io::RequestActive;
use super::pipeline::with_rng;
use super::ws_frames::{close_frame, FrameCursor, GOING_AWAY};

/// Bytes one direction reads at a time.
const PIPE_BUF: usize = 16 * 1024;
/// How long a closing tunnel waits for the frames in flight to end.
const FINISH_FRAME: Duration = Duration::from_secs(1);
/// How long a closing tunnel waits for its peers to close their side.
const CLOSE_LINGER: Duration = Duration::from_secs(1);
/// The longest a tunnel takes to close once its time has come.
pub(crate) const CLOSE_BOUND: Duration = Duration::from_secs(2);
const _: () =
    assert!(FINISH_FRAME.as_millis() + CLOSE_LINGER.as_millis() <= CLOSE_BOUND.as_millis());

/// A tunnel agreed with the backend (its 101 is on its way to the client), waiting for
/// the client connection's server to write that 101 and hand the connection over.
pub(crate) struct PendingTunnel {
    pub backend_stream: BackendStream,
    /// Bytes the backend sent right after its 101 head: already WebSocket frames.
    pub early: BytesMut,
    pub idle_timeout: Duration,
    pub open: OpenTunnel,
    pub in_flight: InFlight,
    pub active: RequestActive,
    /// For logs.
    pub backend: SocketAddr,
}

/// Where a 101 leaves its tunnel, in the client connection's context, until the connection
/// task runs it. Boxed: every connection carries the slot, few ever fill it.
#[derive(Default)]
pub(crate) struct TunnelSlot(Mutex<Option<Box<PendingTunnel>>>);

impl TunnelSlot {
    fn lock(&self) -> MutexGuard<'_, Option<Box<PendingTunnel>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn put(&self, tunnel: PendingTunnel) {
        *self.lock() = Some(Box::new(tunnel));
    }

    pub(crate) fn take(&self) -> Option<Box<PendingTunnel>> {
        self.lock().take()
    }
}

impl fmt::Debug for TunnelSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TunnelSlot")
    }
}

/// Why the relay stopped.
#[derive(Debug)]
enum Ending {
    /// Both sides finished.
    Finished,
    Failed(io::Error),
    Idle,
    Drain,
}

/// Runs a tunnel to its end over `client`; `early` are bytes the client sent after its
/// upgrade request (already WebSocket frames), for the backend.
pub(crate) async fn run<C>(tunnel: Box<PendingTunnel>, mut client: C, early_up: &[u8])
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let PendingTunnel {
        backend_stream,
        early,
        idle_timeout,
        open,
        in_flight,
        active,
        backend,
    } = *tunnel;
    let mut server = backend_stream;
    let mut relay = Relay {
        up: Pipe::new(early_up),
        down: Pipe::new(&early),
    };
    drop(early);
    let ending = relay
        .run(&mut client, &mut server, idle_timeout, &open)
        .await;
    match ending {
        Ending::Finished => tracing::debug!(%backend, "WebSocket tunnel finished"),
        Ending::Failed(e) => tracing::debug!(%backend, error = %e, "WebSocket tunnel failed"),
        Ending::Idle => {
            tracing::debug!(%backend, after = ?idle_timeout, "WebSocket tunnel idle, closing");
            relay.close(&mut client, &mut server, "idle timeout").await;
        }
        Ending::Drain => {
            tracing::debug!(%backend, "WebSocket tunnel closed for a drain");
            open.closed_by_drain();
            relay.close(&mut client, &mut server, "going away").await;
        }
    }
    // The registry first, so that whoever sees the in-flight count drop sees the tunnel
    // gone too.
    drop(open);
    drop(in_flight);
    drop(active);
}

/// Both directions of a tunnel.
struct Relay {
    /// Client → backend.
    up: Pipe,
    /// Backend → client.
    down: Pipe,
}

impl Relay {
    async fn run<C, B>(
        &mut self,
        client: &mut C,
        backend: &mut B,
        idle: Duration,
        open: &OpenTunnel,
    ) -> Ending
    where
        C: AsyncRead + AsyncWrite + Unpin,
        B: AsyncRead + AsyncWrite + Unpin,
    {
        let close = open.close_requested();
        tokio::pin!(close);
        let mut last = Instant::now();
        let timer = tokio::time::sleep(idle);
        tokio::pin!(timer);
        poll_fn(|cx| {
            if close.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Ending::Drain);
            }
            match self.poll(cx, client, backend) {
                Poll::Ready(Ok(())) => return Poll::Ready(Ending::Finished),
                Poll::Ready(Err(e)) => return Poll::Ready(Ending::Failed(e)),
                Poll::Pending => {}
            }
            // One clock read per wake-up that moved bytes, not one per chunk. The timer is
            // moved only when it fires before the idle deadline (once per idle period).
            let up_moved = std::mem::take(&mut self.up.moved);
            if std::mem::take(&mut self.down.moved) || up_moved {
                last = Instant::now();
            }
            loop {
                if timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let deadline = last + idle;
                if Instant::now() >= deadline {
                    return Poll::Ready(Ending::Idle);
                }
                timer.as_mut().reset(deadline);
            }
        })
        .await
    }

    /// Copies both ways; ready when both directions have finished.
    fn poll<C, B>(
        &mut self,
        cx: &mut Context<'_>,
        client: &mut C,
        backend: &mut B,
    ) -> Poll<io::Result<()>>
    where
        C: AsyncRead + AsyncWrite + Unpin,
        B: AsyncRead + AsyncWrite + Unpin,
    {
        let up = self.up.poll_transfer(cx, client, backend)?;
        let down = self.down.poll_transfer(cx, backend, client)?;
        // After the close handshake (a Close each way) one side ending is the end: RFC 6455
        // §7.1.1 has the server close the TCP connection first, and a client need not close
        // its own until it sees that; nothing may follow either way anyway.
        let handshake_done = self.up.frames.close_seen() && self.down.frames.close_seen();
        if (up.is_ready() && down.is_ready())
            || (handshake_done && (up.is_ready() || down.is_ready()))
        {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    /// Ends the tunnel as described in the module docs.
    async fn close<C, B>(&mut self, client: &mut C, backend: &mut B, reason: &str)
    where
        C: AsyncRead + AsyncWrite + Unpin,
        B: AsyncRead + AsyncWrite + Unpin,
    {
        let finished = tokio::time::timeout(
            FINISH_FRAME,
            poll_fn(|cx| {
                let up = self.up.poll_to_boundary(cx, client, backend);
                let down = self.down.poll_to_boundary(cx, backend, client);
                match (up, down) {
                    (Poll::Ready(Err(e)), _) | (_, Poll::Ready(Err(e))) => Poll::Ready(Err(e)),
                    (Poll::Ready(Ok(())), Poll::Ready(Ok(()))) => Poll::Ready(Ok(())),
                    _ => Poll::Pending,
                }
            }),
        )
        .await;
        if let Ok(Err(e)) = finished {
            tracing::debug!(error = %e, "tunnel failed while closing");
            return;
        }
        let to_backend = self.up.may_send_close().then(|| {
            let key = with_rng(|rng| rng.next_u64()).to_le_bytes();
            close_frame(GOING_AWAY, reason, Some([key[0], key[1], key[2], key[3]]))
        });
        let to_client = self
            .down
            .may_send_close()
            .then(|| close_frame(GOING_AWAY, reason, None));
        let (client_open, backend_open) = (!self.down.shut, !self.up.shut);
        let (client_ended, backend_ended) = (self.up.eof, self.down.eof);
        let _ = tokio::time::timeout(CLOSE_LINGER, async {
            tokio::join!(
                send_close(client, to_client, client_open),
                send_close(backend, to_backend, backend_open)
            );
            tokio::join!(linger(client, client_ended), linger(backend, backend_ended));
        })
        .await;
    }
}

/// Writes `frame` (if any) and shuts the socket for writing, unless that was done already.
async fn send_close<W: AsyncWrite + Unpin>(w: &mut W, frame: Option<Vec<u8>>, open: bool) {
    if !open {
        return;
    }
    if let Some(frame) = frame {
        if w.write_all(&frame).await.is_err() {
            return;
        }
    }
    let _ = w.shutdown().await;
}

/// Reads and drops what the peer still sends, until it closes (unless it already had).
async fn linger<R: AsyncRead + Unpin>(r: &mut R, ended: bool) {
    if ended {
        return;
    }
    let mut sink = [0u8; 1024];
    while matches!(r.read(&mut sink).await, Ok(n) if n > 0) {}
}

/// One direction of a tunnel: a buffer between a source and a destination, and the frames
/// going through.
struct Pipe {
    buf: Box<[u8]>,
    /// Bytes `start..end` of `buf` are read and not yet written.
    start: usize,
    end: usize,
    frames: FrameCursor,
    /// The source has ended.
    eof: bool,
    /// The destination's writing side is shut.
    shut: bool,
    need_flush: bool,
    /// Bytes moved since the relay last looked.
    moved: bool,
}

impl Pipe {
    fn new(early: &[u8]) -> Pipe {
        let mut buf = vec![0u8; PIPE_BUF.max(early.len())].into_boxed_slice();
        buf[..early.len()].copy_from_slice(early);
        Pipe {
            buf,
            start: 0,
            end: early.len(),
            frames: FrameCursor::default(),
            eof: false,
            shut: false,
            need_flush: false,
            moved: false,
        }
    }

    /// Copies from `r` to `w`; ready once `r` ended, everything was written and `w` shut.
    fn poll_transfer<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        r: &mut R,
        w: &mut W,
    ) -> Poll<io::Result<()>>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        loop {
            if self.start < self.end {
                let n = ready!(Pin::new(&mut *w).poll_write(cx, &self.buf[self.start..self.end]))?;
                self.wrote(n)?;
                continue;
            }
            if self.eof {
                if !self.shut {
                    ready!(Pin::new(&mut *w).poll_shutdown(cx))?;
                    self.shut = true;
                }
                return Poll::Ready(Ok(()));
            }
            ready!(self.poll_fill(cx, r, w))?;
        }
    }

    /// Writes what finishes the frame in flight; ready at a frame boundary, or when none can
    /// be reached (framing lost, source ended). What was read past the boundary is dropped.
    fn poll_to_boundary<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        r: &mut R,
        w: &mut W,
    ) -> Poll<io::Result<()>>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        loop {
            if self.shut || self.frames.at_boundary() || self.frames.is_lost() {
                self.start = self.end;
                return Poll::Ready(Ok(()));
            }
            if self.start < self.end {
                let pending = &self.buf[self.start..self.end];
                let limit = self
                    .frames
                    .bytes_to_boundary(pending)
                    .unwrap_or(pending.len());
                let n = ready!(Pin::new(&mut *w).poll_write(cx, &pending[..limit]))?;
                self.wrote(n)?;
                continue;
            }
            if self.eof {
                return Poll::Ready(Ok(()));
            }
            ready!(self.poll_fill(cx, r, w))?;
        }
    }

    /// True when shoal may send the destination a Close frame now.
    fn may_send_close(&self) -> bool {
        !self.shut && self.frames.at_boundary() && self.frames.may_insert_close()
    }

    /// Records `n` bytes written from the front of the buffer.
    fn wrote(&mut self, n: usize) -> io::Result<()> {
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        self.frames.advance(&self.buf[self.start..self.start + n]);
        self.start += n;
        self.moved = true;
        self.need_flush = true;
        Ok(())
    }

    /// Flushes what was written, then reads the next bytes into the (empty) buffer.
    fn poll_fill<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        r: &mut R,
        w: &mut W,
    ) -> Poll<io::Result<()>>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        if self.need_flush {
            ready!(Pin::new(&mut *w).poll_flush(cx))?;
            self.need_flush = false;
        }
        let mut read = ReadBuf::new(&mut self.buf);
        ready!(Pin::new(&mut *r).poll_read(cx, &mut read))?;
        let n = read.filled().len();
        self.start = 0;
        self.end = n;
        if n == 0 {
            self.eof = true;
        } else {
            self.moved = true;
        }
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    /// A frame from a server (unmasked) with `payload`.
    fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        assert!(payload.len() < 126);
        let mut f = vec![0x80 | opcode, payload.len() as u8];
        f.extend_from_slice(payload);
        f
    }

    #[tokio::test]
    async fn a_pipe_copies_and_carries_the_end() {
        let (mut src_far, mut src) = duplex(64);
        let (mut dst, mut dst_far) = duplex(1 << 20);
        let mut pipe = Pipe::new(b"early");
        src_far.write_all(b" and later").await.expect("write");
        drop(src_far);
        poll_fn(|cx| pipe.poll_transfer(cx, &mut src, &mut dst))
            .await
            .expect("copied");
        let mut got = Vec::new();
        dst_far.read_to_end(&mut got).await.expect("read");
        assert_eq!(got, b"early and later");
    }

    #[tokio::test]
    async fn closing_finishes_the_frame_in_flight_then_stops_at_the_boundary() {
        let first = frame(0x1, b"hello");
        let second = frame(0x1, b"world");
        let (mut src_far, mut src) = duplex(64);
        let (mut dst, mut dst_far) = duplex(1 << 20);
        let mut pipe = Pipe::new(&[]);
        // Half of the first frame goes through before the close begins.
        src_far.write_all(&first[..3]).await.expect("write");
        poll_fn(|cx| {
            let _ = pipe.poll_transfer(cx, &mut src, &mut dst);
            Poll::Ready(())
        })
        .await;
        assert!(!pipe.frames.at_boundary());
        // The rest of it and all of the next one arrive together.
        let mut rest = first[3..].to_vec();
        rest.extend_from_slice(&second);
        src_far.write_all(&rest).await.expect("write");
        poll_fn(|cx| pipe.poll_to_boundary(cx, &mut src, &mut dst))
            .await
            .expect("boundary");
        assert!(pipe.may_send_close());
        drop(dst);
        let mut got = Vec::new();
        dst_far.read_to_end(&mut got).await.expect("read");
        assert_eq!(got, first, "exactly the first frame, none of the second");
    }
}
