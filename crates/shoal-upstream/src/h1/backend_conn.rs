//! One HTTP/1.1 connection to a backend, used by one request at a time.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::BytesMut;
use http::header;
use http::request::Parts;
use http::Method;
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::time::Instant;

use super::encode::{encode_chunk, encode_head, BodyFraming};
use super::response_head::{parse_head, parse_upgrade_head, HeadError, ResponseHead};
use crate::backend_stream::BackendStream;
use crate::body::UpstreamBody;
use crate::connect_error::ConnectError;
use crate::deadline::Deadline;
use crate::transport::Transport;

/// Read buffer growth step: room for a typical response head and some body.
const READ_RESERVE: usize = 8 * 1024;

/// When the request's body last went out, as an offset from the exchange's start: the
/// response timeout counts from there. Atomic only so that the exchange's future stays
/// `Send` while the timeout's poll reads it; one task touches it.
struct SendProgress {
    start: Instant,
    nanos: AtomicU64,
}

impl SendProgress {
    fn new(start: Instant) -> SendProgress {
        SendProgress {
            start,
            nanos: AtomicU64::new(0),
        }
    }

    fn sent(&self) {
        let nanos = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.nanos.store(nanos, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.start + Duration::from_nanos(self.nanos.load(Ordering::Relaxed))
    }
}

/// Why an exchange failed. The variant says how far it got, which decides whether the
/// request may be tried again.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// Not one byte of the request was written: the request (body included) is intact.
    #[error("connection unusable before the request was sent: {error}")]
    Unsent {
        error: io::Error,
        body: UpstreamBody,
    },
    /// The request was written (maybe partly) and the backend failed before any byte of a
    /// response.
    #[error("backend failed before responding: {0}")]
    NoResponse(io::Error),
    /// The client's request body failed while being forwarded.
    #[error("client request body failed: {0}")]
    ClientBody(crate::body::BodyError),
    /// The backend answered something that is not a valid response head.
    #[error("{0}")]
    BadResponse(HeadError),
    /// The client's body went past its limit (`UpstreamBody::Limited`); what was sent is
    /// cut short and the connection must not be reused.
    #[error("the request body is larger than {0} bytes")]
    BodyTooLarge(u64),
}

#[derive(Debug)]
pub struct BackendConn {
    stream: BackendStream,
    /// The [`Transport`] that made it: pools hand it only to requests of that transport.
    transport: u64,
    pub(crate) read_buf: BytesMut,
    write_buf: Vec<u8>,
    /// The response-timeout timer, kept with the connection (see [`Deadline`]).
    timer: Deadline,
}

impl BackendConn {
    /// Opens a connection to a backend: TCP, and TLS when the transport says so.
    pub async fn connect(
        transport: &Transport,
        addr: SocketAddr,
        timeout: Duration,
    ) -> Result<BackendConn, ConnectError> {
        let stream = transport.connect(addr, timeout).await?;
        Ok(BackendConn {
            stream,
            transport: transport.id(),
            read_buf: BytesMut::with_capacity(READ_RESERVE),
            write_buf: Vec::with_capacity(1024),
            timer: Deadline::default(),
        })
    }

    /// The id of the [`Transport`] that made this connection.
    pub fn transport_id(&self) -> u64 {
        self.transport
    }

    /// True when an idle connection can no longer be used: the backend closed it, or sent
    /// bytes nobody asked for. Costs no system call unless the event loop saw the socket
    /// become readable (which an idle keep-alive connection never should).
    pub fn is_stale(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        match &mut self.stream {
            BackendStream::Plain(stream) => match stream.poll_read_ready(&mut cx) {
                Poll::Pending => false,
                Poll::Ready(Err(_)) => true,
                Poll::Ready(Ok(())) => {
                    let mut probe = [0u8; 1];
                    !matches!(stream.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
                }
            },
            // TLS records may arrive on an idle connection without being a problem (TLS 1.3
            // session tickets, key updates): only plaintext, an end or an error makes it
            // stale, which a read of the TLS stream tells apart.
            BackendStream::Tls(stream) => {
                let mut probe = [0u8; 1];
                let mut buf = ReadBuf::new(&mut probe);
                !Pin::new(&mut **stream)
                    .poll_read(&mut cx, &mut buf)
                    .is_pending()
            }
        }
    }

    /// Makes sure what was written has left: TLS keeps records in rustls's buffer until
    /// flushed. Nothing to do (and no call made) in cleartext.
    async fn flush_tls(&mut self) -> io::Result<()> {
        match &mut self.stream {
            BackendStream::Plain(_) => Ok(()),
            BackendStream::Tls(stream) => stream.flush().await,
        }
    }

    /// [`Self::exchange`] bounded by `timeout`; `None` when the response head did not arrive
    /// in time (the connection must then be dropped).
    pub async fn exchange_within(
        &mut self,
        parts: &Parts,
        body: UpstreamBody,
        timeout: Duration,
    ) -> Option<Result<ResponseHead, ExchangeError>> {
        self.within(parts, body, timeout, false).await
    }

    /// Sends a request asking for a protocol upgrade (`Upgrade`, no body) and reads the
    /// answer's head within `timeout`, like [`Self::exchange_within`]. A 101 is accepted:
    /// the connection then belongs to the new protocol ([`Self::into_upgraded`]). Any other
    /// answer is an ordinary response, but the connection must not serve again: the
    /// backend may have read the request differently.
    pub async fn upgrade_within(
        &mut self,
        parts: &Parts,
        timeout: Duration,
    ) -> Option<Result<ResponseHead, ExchangeError>> {
        self.within(parts, UpstreamBody::Empty, timeout, true).await
    }

    /// The socket and the bytes already read past the 101's head (the first bytes of the
    /// new protocol), after [`Self::upgrade_within`] returned a 101.
    pub fn into_upgraded(self) -> (BackendStream, BytesMut) {
        (self.stream, self.read_buf)
    }

    async fn within(
        &mut self,
        parts: &Parts,
        body: UpstreamBody,
        timeout: Duration,
        upgrade: bool,
    ) -> Option<Result<ResponseHead, ExchangeError>> {
        // The clock runs from the last body bytes sent: a client uploading slowly (each
        // piece within its own idle timeout) is not the backend being slow to answer.
        let start = Instant::from_std(shoal_core::loop_clock::now());
        let progress = SendProgress::new(start);
        let deadline = |progress: &SendProgress| progress.last() + timeout;
        let mut timer = std::mem::take(&mut self.timer);
        let result = {
            let exchange = self.exchange_as(parts, body, upgrade, &progress);
            tokio::pin!(exchange);
            std::future::poll_fn(|cx| {
                if let Poll::Ready(r) = exchange.as_mut().poll(cx) {
                    return Poll::Ready(Some(r));
                }
                // Body bytes sent since the last poll move the deadline on.
                timer.poll_until(cx, deadline(&progress)).map(|()| None)
            })
            .await
        };
        self.timer = timer;
        result
    }

    /// Sends the request and reads the response head. The body of the response is read
    /// afterwards through [`super::ResponseBody`].
    pub async fn exchange(
        &mut self,
        parts: &Parts,
        body: UpstreamBody,
    ) -> Result<ResponseHead, ExchangeError> {
        self.exchange_as(parts, body, false, &SendProgress::new(Instant::now()))
            .await
    }

    async fn exchange_as(
        &mut self,
        parts: &Parts,
        body: UpstreamBody,
        upgrade: bool,
        progress: &SendProgress,
    ) -> Result<ResponseHead, ExchangeError> {
        let framing = match &body {
            UpstreamBody::Empty => BodyFraming::None,
            UpstreamBody::Full(_) => BodyFraming::Length,
            UpstreamBody::Stream(_) | UpstreamBody::Limited { .. }
                if parts.headers.contains_key(header::CONTENT_LENGTH) =>
            {
                BodyFraming::Length
            }
            UpstreamBody::Stream(_) | UpstreamBody::Limited { .. } => BodyFraming::Chunked,
        };
        self.write_buf.clear();
        encode_head(parts, framing, &mut self.write_buf);
        // The first write tells a dead connection from a live one: if the kernel takes not
        // a byte, the request is intact and may go elsewhere.
        match self.stream.write(&self.write_buf).await {
            Ok(0) => {
                return Err(ExchangeError::Unsent {
                    error: io::ErrorKind::WriteZero.into(),
                    body,
                })
            }
            Err(error) => return Err(ExchangeError::Unsent { error, body }),
            Ok(n) if n < self.write_buf.len() => {
                let rest = self.write_buf.split_off(n);
                self.stream
                    .write_all(&rest)
                    .await
                    .map_err(ExchangeError::NoResponse)?;
            }
            Ok(_) => {}
        }
        self.flush_tls().await.map_err(ExchangeError::NoResponse)?;
        let written = match body {
            UpstreamBody::Empty => Ok(()),
            UpstreamBody::Stream(incoming) => {
                self.send_body(incoming, framing, u64::MAX, progress).await
            }
            UpstreamBody::Limited { body, limit, .. } => {
                self.send_body(body, framing, limit, progress).await
            }
            UpstreamBody::Full(bytes) => self
                .stream
                .write_all(&bytes)
                .await
                .map_err(ExchangeError::NoResponse),
        };
        match written {
            Ok(()) => {}
            Err(ExchangeError::NoResponse(e)) => {
                // The backend may have answered early (413, 401) and stopped reading: its
                // answer is still worth reading.
                return match self.read_head(parts.method == Method::HEAD, upgrade).await {
                    Ok(head) => Ok(head),
                    Err(_) => Err(ExchangeError::NoResponse(e)),
                };
            }
            Err(other) => return Err(other),
        }
        self.read_head(parts.method == Method::HEAD, upgrade).await
    }

    async fn send_body(
        &mut self,
        mut body: crate::body::ClientBody,
        framing: BodyFraming,
        limit: u64,
        progress: &SendProgress,
    ) -> Result<(), ExchangeError> {
        let mut sent = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(ExchangeError::ClientBody)?;
            match frame.into_data() {
                Ok(data) => {
                    if data.is_empty() {
                        continue;
                    }
                    sent = sent.saturating_add(data.len() as u64);
                    if sent > limit {
                        // Nothing past the limit is sent, and no final chunk: the backend
                        // sees an unfinished body, never a complete truncated one.
                        return Err(ExchangeError::BodyTooLarge(limit));
                    }
                    if framing == BodyFraming::Chunked {
                        self.write_buf.clear();
                        encode_chunk(&data, &mut self.write_buf);
                        self.stream.write_all(&self.write_buf).await
                    } else {
                        self.stream.write_all(&data).await
                    }
                    .map_err(ExchangeError::NoResponse)?;
                    // A streamed body goes on as it comes, not when rustls's buffer fills.
                    self.flush_tls().await.map_err(ExchangeError::NoResponse)?;
                    progress.sent();
                }
                Err(frame) => {
                    if let (Ok(trailers), BodyFraming::Chunked) = (frame.into_trailers(), framing) {
                        self.write_buf.clear();
                        self.write_buf.extend_from_slice(b"0\r\n");
                        for (name, value) in &trailers {
                            self.write_buf.extend_from_slice(name.as_str().as_bytes());
                            self.write_buf.extend_from_slice(b": ");
                            self.write_buf.extend_from_slice(value.as_bytes());
                            self.write_buf.extend_from_slice(b"\r\n");
                        }
                        self.write_buf.extend_from_slice(b"\r\n");
                        self.stream
                            .write_all(&self.write_buf)
                            .await
                            .map_err(ExchangeError::NoResponse)?;
                        return self.flush_tls().await.map_err(ExchangeError::NoResponse);
                    }
                }
            }
        }
        if framing == BodyFraming::Chunked {
            self.stream
                .write_all(b"0\r\n\r\n")
                .await
                .map_err(ExchangeError::NoResponse)?;
            self.flush_tls().await.map_err(ExchangeError::NoResponse)?;
        }
        Ok(())
    }

    async fn read_head(
        &mut self,
        head_request: bool,
        upgrade: bool,
    ) -> Result<ResponseHead, ExchangeError> {
        loop {
            if !self.read_buf.is_empty() {
                let parsed = if upgrade {
                    parse_upgrade_head(&mut self.read_buf)
                } else {
                    parse_head(&mut self.read_buf, head_request)
                };
                if let Some(head) = parsed.map_err(ExchangeError::BadResponse)? {
                    return Ok(head);
                }
            }
            self.read_buf.reserve(READ_RESERVE);
            let n = self
                .stream
                .read_buf(&mut self.read_buf)
                .await
                .map_err(ExchangeError::NoResponse)?;
            if n == 0 {
                return Err(if self.read_buf.is_empty() {
                    ExchangeError::NoResponse(io::ErrorKind::UnexpectedEof.into())
                } else {
                    ExchangeError::BadResponse(HeadError::Malformed(
                        "connection closed inside the response head",
                    ))
                });
            }
        }
    }

    /// Reads more bytes into the read buffer (for the response body).
    pub(crate) fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        self.read_buf.reserve(READ_RESERVE);
        let stream = match &mut self.stream {
            BackendStream::Plain(stream) => stream,
            BackendStream::Tls(stream) => {
                // One poll of tokio's read_buf future: it reads into the buffer's spare
                // capacity without zeroing it, and dropping it after Pending loses nothing.
                let read = std::pin::pin!(stream.read_buf(&mut self.read_buf));
                return read.poll(cx);
            }
        };
        loop {
            match stream.poll_read_ready(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {}
            }
            match stream.try_read_buf(&mut self.read_buf) {
                Ok(n) => return Poll::Ready(Ok(n)),
                // Readiness was stale; try_read cleared it, so the next poll registers.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}
