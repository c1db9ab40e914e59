//! A client's HTTP/1.1 connection: its socket, the bytes read and not yet used, and the
//! state of the request body being read.
//!
//! The server loop owns it outright while it reads heads and writes responses. A request
//! with a body shares it ([`Slot::Shared`]) with that body ([`H1Body`]), which the request
//! path polls — possibly from an HTTP/2 upstream's connection task while the response is
//! written, for full-duplex streams — so the state sits behind a mutex, taken per poll,
//! never across an await. Requests without a body (nearly all) pay for none of it.

use std::future::Future;
use std::io;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use shoal_core::loop_clock;
use shoal_upstream::h1::{ChunkedDecoder, Piece};
use shoal_upstream::{BodyError, Deadline};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use crate::snapshot::ListenerStats;

/// Read buffer growth step: room for a typical request head.
const READ_RESERVE: usize = 8 * 1024;
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Where the body of the request under way stands.
#[derive(Debug)]
pub(crate) enum BodyState {
    /// Read to its end (or there was none).
    Done,
    /// Bytes still to come.
    Length(u64),
    Chunked(ChunkedDecoder),
    /// Broken (malformed, or the client went away): the connection cannot go on.
    Failed,
    /// The connection was given up while something still held the body (an HTTP/2
    /// upstream's stream still sending it): reading it fails from now on, so that the
    /// backend never takes what it got for a whole body.
    Abandoned,
}

pub(crate) struct ConnIo<S> {
    pub io: S,
    /// Bytes read from the client and not used yet: the rest of a head, body bytes, or the
    /// next pipelined request.
    pub rbuf: BytesMut,
    pub body: BodyState,
    /// Bytes of `100 Continue` still to send before the body is read (0: none owed).
    continue_left: usize,
    stats: Option<Arc<ListenerStats>>,
    /// How long a request body may go without a byte (the listener's `idle_timeout`): a
    /// client that stops sending its body must not hold the request, and the backend
    /// connection it is being sent on, for ever.
    body_timeout: Duration,
    /// When the body last made progress.
    body_progress: std::time::Instant,
    body_timer: Deadline,
}

impl<S: AsyncRead + AsyncWrite + Unpin> ConnIo<S> {
    pub(crate) fn new(
        io: S,
        rbuf: BytesMut,
        stats: Option<Arc<ListenerStats>>,
        body_timeout: Duration,
    ) -> ConnIo<S> {
        ConnIo {
            io,
            rbuf,
            body: BodyState::Done,
            continue_left: 0,
            stats,
            body_timeout,
            body_progress: loop_clock::now(),
            body_timer: Deadline::default(),
        }
    }

    /// Starts reading a request's body; `expect_continue` owes the client a `100 Continue`
    /// the first time the body is polled (never, if the request is answered without it).
    pub(crate) fn begin_body(&mut self, body: BodyState, expect_continue: bool) {
        self.body = body;
        self.body_progress = loop_clock::now();
        self.continue_left = if expect_continue { CONTINUE.len() } else { 0 };
    }

    /// Reads more bytes into `rbuf`. `Ok(0)`: the client closed its side.
    pub(crate) fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        self.rbuf.reserve(READ_RESERVE);
        // One poll of tokio's read_buf future: it reads into the spare capacity without
        // zeroing it, and dropping it after Pending loses nothing.
        let read = std::pin::pin!(self.io.read_buf(&mut self.rbuf));
        let polled = read.poll(cx);
        if let (Some(stats), Poll::Ready(Ok(n))) = (&self.stats, &polled) {
            stats.bytes_received.add(*n as u64);
        }
        polled
    }

    pub(crate) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.io).poll_write(cx, buf);
        if let (Some(stats), Poll::Ready(Ok(n))) = (&self.stats, &written) {
            stats.bytes_sent.add(*n as u64);
        }
        written
    }

    /// Writes all of `buf` (resuming at `*done`), then flushes (TLS keeps records until
    /// flushed; a plain socket's flush is free).
    pub(crate) fn poll_write_all(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
        done: &mut usize,
    ) -> Poll<io::Result<()>> {
        while *done < buf.len() {
            match ready!(self.poll_write(cx, &buf[*done..])) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => *done += n,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Pin::new(&mut self.io).poll_flush(cx)
    }

    /// Skips the rest of a body already in `rbuf`, so that the connection can go on after a
    /// response that did not need it (a 404 to a small POST). False when more of it is still
    /// on its way: the connection must then close.
    pub(crate) fn skip_buffered_body(&mut self) -> bool {
        loop {
            match &mut self.body {
                BodyState::Done => return true,
                BodyState::Failed | BodyState::Abandoned => return false,
                BodyState::Length(n) => {
                    let n = *n;
                    if (self.rbuf.len() as u64) < n {
                        return false;
                    }
                    self.rbuf.advance(n as usize);
                    self.body = BodyState::Done;
                }
                BodyState::Chunked(decoder) => match decoder.decode(&mut self.rbuf) {
                    Ok(Some(Piece::Data(_))) => {}
                    Ok(Some(Piece::End | Piece::Trailers(_))) => self.body = BodyState::Done,
                    Ok(None) | Err(_) => return false,
                },
            }
        }
    }

    /// Ready when the body has made no progress for `body_timeout`.
    fn poll_body_stall(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let until = tokio::time::Instant::from_std(self.body_progress + self.body_timeout);
        self.body_timer.poll_until(cx, until)
    }

    /// The response is being written: a `100 Continue` not sent by now never will be (it
    /// would land inside the response).
    pub(crate) fn cancel_continue(&mut self) {
        self.continue_left = 0;
    }

    /// Gives the connection up while the body is still held elsewhere: the body fails from
    /// now on, and the socket is shut (best effort, without waiting) so that the client
    /// sees the end now rather than when the holder lets go.
    pub(crate) fn abandon(&mut self) {
        self.body = BodyState::Abandoned;
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let _ = Pin::new(&mut self.io).poll_shutdown(&mut cx);
    }

    fn poll_continue(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.continue_left == 0 {
            // Nothing owed: no write, and no flush (which on TLS writes, and would take the
            // socket's write waker from the task writing the response).
            return Poll::Ready(Ok(()));
        }
        while self.continue_left > 0 {
            let from = CONTINUE.len() - self.continue_left;
            match ready!(self.poll_write(cx, &CONTINUE[from..])) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => self.continue_left -= n,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_body_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        if let Err(e) = ready!(self.poll_continue(cx)) {
            self.body = BodyState::Failed;
            return Poll::Ready(Some(Err(e)));
        }
        loop {
            match &mut self.body {
                BodyState::Done | BodyState::Failed => return Poll::Ready(None),
                BodyState::Abandoned => {
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "the client connection was closed",
                    ))))
                }
                BodyState::Length(n) => {
                    if !self.rbuf.is_empty() {
                        let take = self
                            .rbuf
                            .len()
                            .min(usize::try_from(*n).unwrap_or(usize::MAX));
                        *n -= take as u64;
                        if *n == 0 {
                            self.body = BodyState::Done;
                        }
                        let data = self.rbuf.split_to(take).freeze();
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                }
                BodyState::Chunked(decoder) => match decoder.decode(&mut self.rbuf) {
                    Ok(Some(Piece::Data(data))) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                    Ok(Some(Piece::Trailers(mut trailers))) => {
                        self.body = BodyState::Done;
                        strip_trailers(&mut trailers);
                        return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
                    }
                    Ok(Some(Piece::End)) => {
                        self.body = BodyState::Done;
                        return Poll::Ready(None);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        self.body = BodyState::Failed;
                        return Poll::Ready(Some(Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            e,
                        ))));
                    }
                },
            }
            let filled = match self.poll_fill(cx) {
                Poll::Ready(filled) => filled,
                Poll::Pending => {
                    ready!(self.poll_body_stall(cx));
                    self.body = BodyState::Failed;
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no request body bytes for the idle timeout",
                    ))));
                }
            };
            match filled {
                Ok(0) => {
                    self.body = BodyState::Failed;
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the client closed the connection inside the request body",
                    ))));
                }
                Ok(_) => self.body_progress = loop_clock::now(),
                Err(e) => {
                    self.body = BodyState::Failed;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }
}

/// The socket after a protocol switch (a WebSocket tunnel), still counting its bytes into
/// the listener's counters.
pub(crate) struct CountedIo<S> {
    io: S,
    stats: Option<Arc<ListenerStats>>,
}

impl<S> ConnIo<S> {
    /// The socket for a tunnel, and the bytes already read past the upgrade request.
    pub(crate) fn into_tunnel(self) -> (CountedIo<S>, BytesMut) {
        (
            CountedIo {
                io: self.io,
                stats: self.stats,
            },
            self.rbuf,
        )
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for CountedIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if let (Some(stats), Poll::Ready(Ok(()))) = (&this.stats, &polled) {
            stats
                .bytes_received
                .add((buf.filled().len() - before) as u64);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CountedIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.io).poll_write(cx, buf);
        if let (Some(stats), Poll::Ready(Ok(n))) = (&this.stats, &written) {
            stats.bytes_sent.add(*n as u64);
        }
        written
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// Removes trailer fields a backend that merges trailers into the header section could
/// take for framing, routing or credentials (RFC 9110 §6.5.1).
fn strip_trailers(trailers: &mut http::HeaderMap) {
    use http::header;
    for name in [
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
        header::HOST,
        header::CONNECTION,
        header::TE,
        header::TRAILER,
        header::AUTHORIZATION,
        header::COOKIE,
        header::CONTENT_TYPE,
        header::CONTENT_ENCODING,
        header::EXPECT,
    ] {
        trailers.remove(name);
    }
}

/// The connection, owned by the server loop or shared with a request body.
pub(crate) enum Slot<S> {
    Owned(ConnIo<S>),
    Shared(Arc<Mutex<ConnIo<S>>>),
}

pub(crate) enum SlotGuard<'a, S> {
    Owned(&'a mut ConnIo<S>),
    Shared(MutexGuard<'a, ConnIo<S>>),
}

impl<S> Deref for SlotGuard<'_, S> {
    type Target = ConnIo<S>;
    fn deref(&self) -> &ConnIo<S> {
        match self {
            SlotGuard::Owned(c) => c,
            SlotGuard::Shared(c) => c,
        }
    }
}

impl<S> DerefMut for SlotGuard<'_, S> {
    fn deref_mut(&mut self) -> &mut ConnIo<S> {
        match self {
            SlotGuard::Owned(c) => c,
            SlotGuard::Shared(c) => c,
        }
    }
}

pub(crate) fn lock<S>(shared: &Mutex<ConnIo<S>>) -> MutexGuard<'_, ConnIo<S>> {
    // A panic while holding it cannot leave the state half-written in a way that matters
    // more than the connection itself, which is closed after any error anyway.
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

impl<S> Slot<S> {
    pub(crate) fn lock(&mut self) -> SlotGuard<'_, S> {
        match self {
            Slot::Owned(c) => SlotGuard::Owned(c),
            Slot::Shared(c) => SlotGuard::Shared(lock(c)),
        }
    }

    /// Owned again when the request body has been dropped; else as it was.
    pub(crate) fn reclaim(self) -> Slot<S> {
        match self {
            Slot::Shared(shared) => match Arc::try_unwrap(shared) {
                Ok(m) => Slot::Owned(m.into_inner().unwrap_or_else(|e| e.into_inner())),
                Err(shared) => Slot::Shared(shared),
            },
            owned => owned,
        }
    }
}

/// A request body read from the client's connection as it is polled.
pub(crate) struct H1Body<S> {
    conn: Arc<Mutex<ConnIo<S>>>,
}

impl<S> H1Body<S> {
    pub(crate) fn new(conn: Arc<Mutex<ConnIo<S>>>) -> H1Body<S> {
        H1Body { conn }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Body for H1Body<S> {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        lock(&self.conn)
            .poll_body_frame(cx)
            .map(|frame| frame.map(|f| f.map_err(|e| -> BodyError { Box::new(e) })))
    }

    fn is_end_stream(&self) -> bool {
        matches!(lock(&self.conn).body, BodyState::Done)
    }

    fn size_hint(&self) -> SizeHint {
        match lock(&self.conn).body {
            BodyState::Length(n) => SizeHint::with_exact(n),
            BodyState::Done => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue};

    #[test]
    fn trailers_cannot_carry_framing_routing_or_credentials() {
        let mut trailers = HeaderMap::new();
        for name in [
            "content-length",
            "transfer-encoding",
            "host",
            "authorization",
            "cookie",
        ] {
            trailers.insert(name, HeaderValue::from_static("x"));
        }
        trailers.insert("grpc-status", HeaderValue::from_static("0"));
        strip_trailers(&mut trailers);
        assert_eq!(trailers.len(), 1);
        assert_eq!(trailers["grpc-status"], "0");
    }
}
