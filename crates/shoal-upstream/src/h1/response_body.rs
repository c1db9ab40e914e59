//! A backend's response body, read from its connection as the client takes it.
//!
//! When the body has been read to its end and the connection may serve again (HTTP/1.1, no
//! `Connection: close`, nothing extra after the body), the connection goes back to its pool
//! through [`Release`]. Any other ending closes it: a body cut short is reported as an error,
//! so the client sees an aborted response, never a clean but truncated one.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use super::backend_conn::BackendConn;
use super::chunked::{ChunkedDecoder, Piece};
use super::response_head::Framing;
use crate::backend_state::{BackendState, InFlight};

/// Where a connection goes once its response is done, and the in-flight mark it holds.
#[derive(Debug)]
pub struct Release {
    pub backend: Arc<BackendState>,
    pub worker: usize,
    pub max_idle: usize,
    pub in_flight: InFlight,
}

#[derive(Debug)]
enum State {
    Length(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
    Done,
}

#[derive(Debug)]
pub struct ResponseBody {
    conn: Option<BackendConn>,
    state: State,
    reusable: bool,
    release: Option<Release>,
}

fn cut_short() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "backend closed the connection before the end of the body",
    )
}

impl ResponseBody {
    pub fn new(
        conn: BackendConn,
        framing: Framing,
        reusable: bool,
        release: Release,
    ) -> ResponseBody {
        let state = match framing {
            Framing::Empty => State::Done,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::Chunked(ChunkedDecoder::default()),
            Framing::UntilClose => State::UntilClose,
        };
        let mut body = ResponseBody {
            conn: Some(conn),
            state,
            reusable,
            release: Some(release),
        };
        if matches!(body.state, State::Done) {
            body.finish();
        }
        body
    }

    /// The body ended cleanly: pool the connection if it can serve again.
    fn finish(&mut self) {
        self.state = State::Done;
        let (Some(conn), Some(release)) = (self.conn.take(), self.release.take()) else {
            return;
        };
        // Bytes after the end of the body are a backend bug; the connection is not trusted
        // with another exchange.
        if self.reusable && conn.read_buf.is_empty() {
            release
                .backend
                .release_conn(release.worker, conn, release.max_idle);
        }
    }

    /// Reads more bytes; `Ok(false)` at end of stream.
    fn poll_more(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        let Some(conn) = self.conn.as_mut() else {
            return Poll::Ready(Ok(false));
        };
        let n = ready!(conn.poll_fill(cx))?;
        Poll::Ready(Ok(n > 0))
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        loop {
            let buffered = this.conn.as_ref().map_or(0, |c| c.read_buf.len());
            match &mut this.state {
                State::Done => return Poll::Ready(None),
                State::Length(remaining) => {
                    if buffered > 0 {
                        let take = usize::try_from(*remaining)
                            .unwrap_or(usize::MAX)
                            .min(buffered);
                        let Some(conn) = this.conn.as_mut() else {
                            return Poll::Ready(None);
                        };
                        let data = conn.read_buf.split_to(take).freeze();
                        *remaining -= take as u64;
                        if *remaining == 0 {
                            this.finish();
                        }
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                }
                State::Chunked(decoder) => {
                    let Some(conn) = this.conn.as_mut() else {
                        return Poll::Ready(None);
                    };
                    let piece = decoder
                        .decode(&mut conn.read_buf)
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                    match piece {
                        Some(Piece::Data(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                        Some(Piece::Trailers(trailers)) => {
                            this.finish();
                            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
                        }
                        Some(Piece::End) => {
                            this.finish();
                            return Poll::Ready(None);
                        }
                        None => {}
                    }
                }
                State::UntilClose => {
                    if buffered > 0 {
                        let Some(conn) = this.conn.as_mut() else {
                            return Poll::Ready(None);
                        };
                        let data = conn.read_buf.split().freeze();
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                }
            }
            // Nothing buffered that makes a frame: read more.
            let more = ready!(this.poll_more(cx))?;
            if !more {
                return match this.state {
                    State::UntilClose => {
                        this.finish();
                        Poll::Ready(None)
                    }
                    _ => {
                        this.conn = None;
                        Poll::Ready(Some(Err(cut_short())))
                    }
                };
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.state, State::Done)
    }

    fn size_hint(&self) -> SizeHint {
        match self.state {
            State::Done => SizeHint::with_exact(0),
            State::Length(n) => SizeHint::with_exact(n),
            _ => SizeHint::default(),
        }
    }
}
