use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

/// A client's request body as it streams in: read from the client's HTTP/1.1 connection
/// (shoal's own server) or an HTTP/2 stream (hyper's). Boxed: only requests that have a
/// body pay for it.
pub type ClientBody = Box<dyn Body<Data = Bytes, Error = BodyError> + Send + Unpin>;

/// The body of a request sent to a backend.
///
/// `Empty` exists so a request that had no body can be rebuilt and sent again to another
/// backend (a streamed body can be sent once only).
pub enum UpstreamBody {
    Empty,
    Stream(ClientBody),
    /// A streamed body that may not exceed `limit` bytes (a gateway `limits` filter): past
    /// it, sending stops — [`crate::h1::ExchangeError::BodyTooLarge`] on HTTP/1.1, a
    /// [`BodyTooLarge`] error from [`Body::poll_frame`] for anything that polls it — and the
    /// backend never gets it as a complete body. `seen` counts the bytes polled so far.
    Limited {
        body: ClientBody,
        limit: u64,
        seen: u64,
    },
    /// A body read whole beforehand (validated by a gateway filter), sent with its length.
    Full(Bytes),
}

impl UpstreamBody {
    /// Wraps an HTTP/2 client's body, recognising one that is already known to be empty.
    pub fn from_incoming(body: Incoming) -> UpstreamBody {
        if body.is_end_stream() {
            UpstreamBody::Empty
        } else {
            UpstreamBody::Stream(Box::new(http_body_util::BodyExt::map_err(
                body,
                |e| -> BodyError { Box::new(e) },
            )))
        }
    }

    /// True when the body can be recreated for a retry.
    pub fn is_replayable(&self) -> bool {
        matches!(self, UpstreamBody::Empty)
    }

    /// Cuts a streamed body at `limit` bytes.
    pub fn limited(self, limit: u64) -> UpstreamBody {
        match self {
            UpstreamBody::Stream(body) => UpstreamBody::Limited {
                body,
                limit,
                seen: 0,
            },
            other => other,
        }
    }
}

impl std::fmt::Debug for UpstreamBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamBody::Empty => f.write_str("Empty"),
            UpstreamBody::Stream(_) => f.write_str("Stream"),
            UpstreamBody::Limited { limit, seen, .. } => f
                .debug_struct("Limited")
                .field("limit", limit)
                .field("seen", seen)
                .finish(),
            UpstreamBody::Full(bytes) => f.debug_tuple("Full").field(&bytes.len()).finish(),
        }
    }
}

/// A [`UpstreamBody::Limited`] body went past its limit (bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the request body is larger than {0} bytes")]
pub struct BodyTooLarge(pub u64);

/// What polling an [`UpstreamBody`] can fail with: the client's body failing (an I/O or
/// framing error on its connection, or `hyper::Error` on HTTP/2), or [`BodyTooLarge`].
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match self.get_mut() {
            UpstreamBody::Empty => Poll::Ready(None),
            UpstreamBody::Stream(b) => Pin::new(b).poll_frame(cx),
            UpstreamBody::Limited { body, limit, seen } => {
                let frame = std::task::ready!(Pin::new(body).poll_frame(cx));
                if let Some(Ok(frame)) = &frame {
                    if let Some(data) = frame.data_ref() {
                        *seen = seen.saturating_add(data.len() as u64);
                        if *seen > *limit {
                            return Poll::Ready(Some(Err(Box::new(BodyTooLarge(*limit)))));
                        }
                    }
                }
                Poll::Ready(frame)
            }
            UpstreamBody::Full(bytes) => {
                if bytes.is_empty() {
                    Poll::Ready(None)
                } else {
                    Poll::Ready(Some(Ok(Frame::data(std::mem::take(bytes)))))
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            UpstreamBody::Empty => true,
            UpstreamBody::Stream(b) | UpstreamBody::Limited { body: b, .. } => b.is_end_stream(),
            UpstreamBody::Full(bytes) => bytes.is_empty(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            UpstreamBody::Empty => SizeHint::with_exact(0),
            UpstreamBody::Stream(b) | UpstreamBody::Limited { body: b, .. } => b.size_hint(),
            UpstreamBody::Full(bytes) => SizeHint::with_exact(bytes.len() as u64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_body_is_one_frame() {
        let mut body = UpstreamBody::Full(Bytes::from_static(b"abc"));
        assert_eq!(body.size_hint().exact(), Some(3));
        assert!(!body.is_end_stream());
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let frame = Pin::new(&mut body).poll_frame(&mut cx);
        let Poll::Ready(Some(Ok(frame))) = frame else {
            panic!("one data frame")
        };
        assert_eq!(frame.into_data().ok(), Some(Bytes::from_static(b"abc")));
        assert!(body.is_end_stream());
        assert!(matches!(
            Pin::new(&mut body).poll_frame(&mut cx),
            Poll::Ready(None)
        ));
    }
}
