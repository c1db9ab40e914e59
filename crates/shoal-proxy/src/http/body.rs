//! The body of every response shoal sends: a short text shoal wrote itself, or a backend's
//! body streamed through (HTTP/1.1 or HTTP/2, trailers included). One concrete type, no
//! boxing on the hot path.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use shoal_upstream::h1::ResponseBody;
use shoal_upstream::h2::H2ResponseBody;
use shoal_upstream::RetryPermit;

use super::client_io::RequestActive;

pub(crate) struct ProxyBody {
    kind: Kind,
    /// Keeps the client connection's "request under way" mark until the body is done.
    _active: Option<RequestActive>,
    /// Keeps the request counted among its upstream's active ones (the retry budget's base).
    _permit: Option<RetryPermit>,
}

enum Kind {
    Full(Option<Bytes>),
    Backend(ResponseBody),
    H2(H2ResponseBody),
}

impl ProxyBody {
    pub(crate) fn text(text: impl Into<Bytes>, active: Option<RequestActive>) -> ProxyBody {
        ProxyBody {
            kind: Kind::Full(Some(text.into())),
            _active: active,
            _permit: None,
        }
    }

    /// No body at all (a 101's).
    pub(crate) fn empty() -> ProxyBody {
        ProxyBody {
            kind: Kind::Full(None),
            _active: None,
            _permit: None,
        }
    }

    pub(crate) fn backend(
        body: ResponseBody,
        active: RequestActive,
        permit: RetryPermit,
    ) -> ProxyBody {
        ProxyBody {
            kind: Kind::Backend(body),
            _active: Some(active),
            _permit: Some(permit),
        }
    }

    pub(crate) fn h2(
        body: H2ResponseBody,
        active: RequestActive,
        permit: RetryPermit,
    ) -> ProxyBody {
        ProxyBody {
            kind: Kind::H2(body),
            _active: Some(active),
            _permit: Some(permit),
        }
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match &mut self.get_mut().kind {
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Backend(body) => Pin::new(body).poll_frame(cx),
            Kind::H2(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(bytes) => bytes.is_none(),
            Kind::Backend(body) => body.is_end_stream(),
            Kind::H2(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Kind::Full(None) => SizeHint::with_exact(0),
            Kind::Backend(body) => body.size_hint(),
            Kind::H2(body) => body.size_hint(),
        }
    }
}
