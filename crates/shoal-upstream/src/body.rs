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
            UpstreamBody::Stream(b) => Pin::new(b).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            UpstreamBody::Empty => true,
            UpstreamBody::Stream(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            UpstreamBody::Empty => SizeHint::with_exact(0),
            UpstreamBody::Stream(b) => b.size_hint(),
        }
    }
}
