//! Why an HTTP/2 exchange failed, told by whether the backend could have processed it.

use std::error::Error as _;

use http::Request;

use crate::body::UpstreamBody;

#[derive(Debug)]
pub enum H2Error {
    /// The backend did not process the request: it refused the stream (`REFUSED_STREAM`),
    /// said it was going away before reaching it (a stream above a GOAWAY's last stream id,
    /// RFC 9113 §6.8), or the request never left shoal. Safe to send again, whatever the
    /// method; `request` is the whole request when hyper gave it back (boxed: a request head
    /// is large, and this is the rare path).
    Unprocessed {
        cause: hyper::Error,
        request: Option<Box<Request<UpstreamBody>>>,
    },
    /// The request may have reached the backend (reset, connection lost, protocol error).
    Failed(hyper::Error),
}

impl std::fmt::Display for H2Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            H2Error::Unprocessed { cause, .. } => {
                write!(
                    f,
                    "backend did not process the request: {}",
                    describe(cause)
                )
            }
            H2Error::Failed(cause) => f.write_str(&describe(cause)),
        }
    }
}

impl H2Error {
    /// Classifies a failed `try_send_request`.
    pub(crate) fn from_send(
        mut e: hyper::client::conn::TrySendError<Request<UpstreamBody>>,
    ) -> H2Error {
        let request = e.take_message().map(Box::new);
        let cause = e.into_error();
        if request.is_some() || unprocessed(&cause) {
            H2Error::Unprocessed { cause, request }
        } else {
            H2Error::Failed(cause)
        }
    }
}

/// The HTTP/2 error under a hyper error, if there is one.
fn h2_cause(e: &hyper::Error) -> Option<&h2::Error> {
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(h2) = s.downcast_ref::<h2::Error>() {
            return Some(h2);
        }
        source = s.source();
    }
    None
}

/// A stream the backend refused, or one it announced it would not process.
fn unprocessed(e: &hyper::Error) -> bool {
    h2_cause(e).is_some_and(|h2| {
        let refused = h2.is_reset() && h2.reason() == Some(h2::Reason::REFUSED_STREAM);
        h2.is_remote() && (refused || h2.is_go_away())
    })
}

/// hyper's error with its HTTP/2 cause (hyper's own text alone says just "http2 error").
pub(crate) fn describe(e: &hyper::Error) -> String {
    match h2_cause(e) {
        Some(h2) => format!("{e}: {h2}"),
        None => match e.source() {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        },
    }
}
