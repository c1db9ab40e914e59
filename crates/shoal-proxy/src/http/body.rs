//! The body of every response shoal sends: a short text shoal wrote itself, or a backend's
//! body streamed through (HTTP/1.1 or HTTP/2, trailers included). One concrete type, no
//! boxing on the hot path.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use shoal_upstream::h1::ResponseBody;
use shoal_upstream::h2::H2ResponseBody;
use shoal_upstream::RetryPermit;

use super::client_io::RequestActive;
use crate::access_log::{AccessLog, AccessRecord};

pub(crate) struct ProxyBody {
    kind: Kind,
    /// Keeps the client connection's "request under way" mark until the body is done.
    _active: Option<RequestActive>,
    /// Keeps the request counted among its upstream's active ones (the retry budget's base).
    _permit: Option<RetryPermit>,
    /// The access-log line to write when the body is done (dropped), with the bytes sent;
    /// None when the request is not logged (then nothing is counted).
    log: Option<Box<PendingLog>>,
}

/// An access-log record waiting for its response body to finish.
pub(crate) struct PendingLog {
    pub log: Arc<AccessLog>,
    pub record: AccessRecord,
    pub started: std::time::Instant,
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
            log: None,
        }
    }

    /// The length of a body shoal wrote itself (an error text, a filter's reply): what a
    /// HEAD answer may announce. None for a backend's body, whose length for a HEAD is
    /// whatever the backend said.
    pub(crate) fn own_length(&self) -> Option<u64> {
        match &self.kind {
            Kind::Full(bytes) => Some(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            _ => None,
        }
    }

    /// Writes `pending` to the access log once this body is done, with the bytes it sent.
    pub(crate) fn log_when_done(&mut self, pending: Box<PendingLog>) {
        self.log = Some(pending);
    }

    /// No body at all (a 101's).
    pub(crate) fn empty() -> ProxyBody {
        ProxyBody {
            kind: Kind::Full(None),
            _active: None,
            _permit: None,
            log: None,
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
            log: None,
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
            log: None,
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
        let this = self.get_mut();
        let polled = match &mut this.kind {
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Backend(body) => Pin::new(body).poll_frame(cx),
            Kind::H2(body) => Pin::new(body).poll_frame(cx),
        };
        if let (Some(pending), Poll::Ready(Some(Ok(frame)))) = (&mut this.log, &polled) {
            if let Some(data) = frame.data_ref() {
                pending.record.bytes_sent += data.len() as u64;
            }
        }
        polled
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

impl Drop for ProxyBody {
    fn drop(&mut self) {
        if let Some(mut pending) = self.log.take() {
            pending.record.duration = pending.started.elapsed();
            pending.log.log(&pending.record);
        }
    }
}
