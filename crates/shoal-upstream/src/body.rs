use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

/// The body of a request sent to a backend.
///
/// `Empty` exists so a request that had no body can be rebuilt and sent again to another
/// backend (a streamed body can be sent once only).
#[derive(Debug)]
pub enum UpstreamBody {
    Empty,
    Stream(Incoming),
    /// A streamed body that may not exceed `limit` bytes (a gateway `limits` filter): past
    /// it, sending stops with [`crate::h1::ExchangeError::BodyTooLarge`].
    Limited {
        body: Incoming,
        limit: u64,
    },
    /// A body read whole beforehand (validated by a gateway filter), sent with its length.
    Full(Bytes),
}

impl UpstreamBody {
    /// Wraps a client's body, recognising one that is already known to be empty.
    pub fn from_incoming(body: Incoming) -> UpstreamBody {
        if body.is_end_stream() {
            UpstreamBody::Empty
        } else {
            UpstreamBody::Stream(body)
        }
    }

    /// True when the body can be recreated for a retry.
    pub fn is_replayable(&self) -> bool {
        matches!(self, UpstreamBody::Empty)
    }

    /// Cuts a streamed body at `limit` bytes.
    pub fn limited(self, limit: u64) -> UpstreamBody {
        match self {
            UpstreamBody::Stream(body) => UpstreamBody::Limited { body, limit },
            other => other,
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            UpstreamBody::Empty => Poll::Ready(None),
            UpstreamBody::Stream(b) | UpstreamBody::Limited { body: b, .. } => {
                Pin::new(b).poll_frame(cx)
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
