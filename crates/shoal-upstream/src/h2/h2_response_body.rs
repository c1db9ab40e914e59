//! A backend's HTTP/2 response body, streamed to the client with its trailers.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use super::h2_conn::StreamSlot;
use super::h2_error::describe;
use crate::backend_state::InFlight;

/// The body and the marks it holds: its stream on the connection, and the request in flight
/// on the backend. Both are let go as soon as the body ends or fails, not when the client's
/// connection is done with the response.
#[derive(Debug)]
pub struct H2ResponseBody {
    body: Incoming,
    marks: Option<(StreamSlot, InFlight)>,
}

impl H2ResponseBody {
    pub fn new(body: Incoming, stream: StreamSlot, in_flight: InFlight) -> H2ResponseBody {
        H2ResponseBody {
            body,
            marks: Some((stream, in_flight)),
        }
    }
}

impl Body for H2ResponseBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        let frame = ready!(Pin::new(&mut this.body).poll_frame(cx));
        match frame {
            Some(Ok(frame)) => {
                if this.body.is_end_stream() {
                    this.marks = None;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            // A reset or a lost connection mid-body: the client must see an aborted
            // response (its stream reset, or its HTTP/1.1 connection closed), never a clean
            // end.
            Some(Err(e)) => {
                this.marks = None;
                Poll::Ready(Some(Err(io::Error::other(describe(&e)))))
            }
            None => {
                this.marks = None;
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
