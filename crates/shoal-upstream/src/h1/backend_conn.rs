//! One HTTP/1.1 connection to a backend, used by one request at a time.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::BytesMut;
use http::header;
use http::request::Parts;
use http::Method;
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use super::encode::{encode_chunk, encode_head, BodyFraming};
use super::response_head::{parse_head, parse_upgrade_head, HeadError, ResponseHead};
use crate::body::UpstreamBody;
use crate::connect_error::ConnectError;

/// Read buffer growth step: room for a typical response head and some body.
const READ_RESERVE: usize = 8 * 1024;

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
    ClientBody(hyper::Error),
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
    stream: TcpStream,
    pub(crate) read_buf: BytesMut,
    write_buf: Vec<u8>,
    /// The response-timeout timer, kept with the connection and moved lazily: one new timer
    /// per request costs a timer-wheel insert and remove; this one is reset only when it
    /// fires before its deadline (once per timeout period), or must fire earlier.
    timer: Option<Pin<Box<Sleep>>>,
}

impl BackendConn {
    /// Opens a TCP connection to a backend.
    pub async fn connect(addr: SocketAddr, timeout: Duration) -> Result<BackendConn, ConnectError> {
        let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Err(_) => return Err(ConnectError::Timeout(addr, timeout)),
            Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
                return Err(ConnectError::Refused(addr))
            }
            Ok(Err(e)) => return Err(ConnectError::Io(addr, e)),
            Ok(Ok(s)) => s,
        };
        // Requests are small writes answered quickly: Nagle would add 40 ms stalls.
        let _ = stream.set_nodelay(true);
        Ok(BackendConn {
            stream,
            read_buf: BytesMut::with_capacity(READ_RESERVE),
            write_buf: Vec::with_capacity(1024),
            timer: None,
        })
    }

    /// True when an idle connection can no longer be used: the backend closed it, or sent
    /// bytes nobody asked for. Costs no system call unless the event loop saw the socket
    /// become readable (which an idle keep-alive connection never should).
    pub fn is_stale(&self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        match self.stream.poll_read_ready(&mut cx) {
            Poll::Pending => false,
            Poll::Ready(Err(_)) => true,
            Poll::Ready(Ok(())) => {
                let mut probe = [0u8; 1];
                !matches!(self.stream.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
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
    pub fn into_upgraded(self) -> (TcpStream, BytesMut) {
        (self.stream, self.read_buf)
    }

    async fn within(
        &mut self,
        parts: &Parts,
        body: UpstreamBody,
        timeout: Duration,
        upgrade: bool,
    ) -> Option<Result<ResponseHead, ExchangeError>> {
        let deadline = Instant::now() + timeout;
        let mut timer = self
            .timer
            .take()
            .unwrap_or_else(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() > deadline {
            timer.as_mut().reset(deadline);
        }
        let result = {
            let exchange = self.exchange_as(parts, body, upgrade);
            tokio::pin!(exchange);
            std::future::poll_fn(|cx| {
                if let Poll::Ready(r) = exchange.as_mut().poll(cx) {
                    return Poll::Ready(Some(r));
                }
                loop {
                    if timer.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    if Instant::now() >= deadline {
                        return Poll::Ready(None);
                    }
                    // Fired at an earlier request's deadline: move on to this one's.
                    timer.as_mut().reset(deadline);
                }
            })
            .await
        };
        self.timer = Some(timer);
        result
    }

    /// Sends the request and reads the response head. The body of the response is read
    /// afterwards through [`super::ResponseBody`].
    pub async fn exchange(
        &mut self,
        parts: &Parts,
        body: UpstreamBody,
    ) -> Result<ResponseHead, ExchangeError> {
        self.exchange_as(parts, body, false).await
    }

    async fn exchange_as(
        &mut self,
        parts: &Parts,
        body: UpstreamBody,
        upgrade: bool,
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
        let written = match body {
            UpstreamBody::Empty => Ok(()),
            UpstreamBody::Stream(incoming) => self.send_body(incoming, framing, u64::MAX).await,
            UpstreamBody::Limited { body, limit, .. } => self.send_body(body, framing, limit).await,
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
        mut body: hyper::body::Incoming,
        framing: BodyFraming,
        limit: u64,
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
                        return self
                            .stream
                            .write_all(&self.write_buf)
                            .await
                            .map_err(ExchangeError::NoResponse);
                    }
                }
            }
        }
        if framing == BodyFraming::Chunked {
            self.stream
                .write_all(b"0\r\n\r\n")
                .await
                .map_err(ExchangeError::NoResponse)?;
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
        loop {
            match self.stream.poll_read_ready(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {}
            }
            match self.stream.try_read_buf(&mut self.read_buf) {
                Ok(n) => return Poll::Ready(Ok(n)),
                // Readiness was stale; try_read cleared it, so the next poll registers.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}
