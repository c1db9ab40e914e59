//! Every answer shoal gives on its own, in one place (DESIGN.md §1.6): the status for each
//! failure, and a short body naming the cause and the request id.

use std::time::Duration;

use http::{header, HeaderValue, Response, StatusCode};
use shoal_upstream::h1::HeadError;
use shoal_upstream::ConnectError;

use super::body::ProxyBody;
use super::client_io::RequestActive;

#[derive(Debug)]
pub(crate) enum ProxyError {
    /// The Host (or authority) is not a valid host name.
    BadHost,
    /// No route of the listener matches.
    NoRoute,
    /// The route names an upstream the snapshot does not have.
    UpstreamMissing,
    /// No backend of the upstream may take a request now.
    NoBackend { upstream: String },
    /// Every attempt failed to connect.
    Connect(ConnectError),
    /// The backend failed before its response head arrived.
    UpstreamFailed {
        backend: String,
        cause: std::io::Error,
    },
    /// The backend answered with something that is not a valid HTTP/1.1 response.
    BadResponse { backend: String, cause: HeadError },
    /// The client's request body failed while it was being forwarded.
    ClientBody(hyper::Error),
    /// The response head did not arrive within `response_timeout`.
    UpstreamTimeout { backend: String, after: Duration },
}

impl ProxyError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ProxyError::BadHost | ProxyError::ClientBody(_) => StatusCode::BAD_REQUEST,
            ProxyError::NoRoute => StatusCode::NOT_FOUND,
            ProxyError::UpstreamMissing | ProxyError::NoBackend { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ProxyError::Connect(ConnectError::Timeout(..)) => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::Connect(_)
            | ProxyError::UpstreamFailed { .. }
            | ProxyError::BadResponse { .. } => StatusCode::BAD_GATEWAY,
            ProxyError::UpstreamTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    fn cause(&self) -> String {
        match self {
            ProxyError::BadHost => "invalid Host header".to_string(),
            ProxyError::NoRoute => "no route matches this request".to_string(),
            ProxyError::UpstreamMissing => "the route's upstream is not configured".to_string(),
            ProxyError::NoBackend { upstream } => {
                format!("no backend of upstream {upstream} is available")
            }
            ProxyError::Connect(e) => e.to_string(),
            ProxyError::UpstreamFailed { backend, cause } => {
                format!("backend {backend} failed before responding: {cause}")
            }
            ProxyError::BadResponse { backend, cause } => {
                format!("backend {backend} sent an invalid response: {cause}")
            }
            ProxyError::ClientBody(cause) => format!("the request body could not be read: {cause}"),
            ProxyError::UpstreamTimeout { backend, after } => {
                format!("backend {backend} sent no response within {after:?}")
            }
        }
    }

    /// The response for this error. Malformed requests also close the connection: after a
    /// framing doubt, nothing more on it can be trusted.
    pub(crate) fn response(
        &self,
        request_id: &HeaderValue,
        active: RequestActive,
    ) -> Response<ProxyBody> {
        let status = self.status();
        let body = format!(
            "{} {}: {}\nrequest id: {}\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            self.cause(),
            String::from_utf8_lossy(request_id.as_bytes()),
        );
        let mut response = Response::new(ProxyBody::text(body, Some(active)));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        headers.insert("x-request-id", request_id.clone());
        if status == StatusCode::BAD_REQUEST {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}
