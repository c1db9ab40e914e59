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
    /// A request a backend could misread (framing, target form).
    BadRequest(&'static str),
    /// A method shoal does not proxy.
    MethodNotAllowed(&'static str),
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
    ClientBody(shoal_upstream::BodyError),
    /// The response head did not arrive within `response_timeout`.
    UpstreamTimeout { backend: String, after: Duration },
    /// A gateway filter refused the request (401, 403, 405, 413, 414, 415, 429, 431, ...).
    Gateway(shoal_gateway::Rejection),
    /// The request body went past a `limits` filter's `max_body_bytes` while streaming.
    BodyTooLarge(u64),
}

impl ProxyError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            // A body that stopped arriving: the client was too slow, not wrong.
            ProxyError::ClientBody(cause)
                if cause
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::TimedOut) =>
            {
                StatusCode::REQUEST_TIMEOUT
            }
            ProxyError::BadHost | ProxyError::BadRequest(_) | ProxyError::ClientBody(_) => {
                StatusCode::BAD_REQUEST
            }
            ProxyError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ProxyError::NoRoute => StatusCode::NOT_FOUND,
            ProxyError::UpstreamMissing | ProxyError::NoBackend { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ProxyError::Connect(ConnectError::Timeout(..)) => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::Connect(_)
            | ProxyError::UpstreamFailed { .. }
            | ProxyError::BadResponse { .. } => StatusCode::BAD_GATEWAY,
            ProxyError::UpstreamTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::Gateway(rejection) => rejection.status,
            ProxyError::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    pub(crate) fn cause(&self) -> String {
        match self {
            ProxyError::BadHost => "invalid Host header".to_string(),
            ProxyError::BadRequest(why) | ProxyError::MethodNotAllowed(why) => (*why).to_string(),
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
            ProxyError::Gateway(rejection) => rejection.cause.to_string(),
            ProxyError::BodyTooLarge(limit) => {
                format!("the request body is larger than {limit} bytes")
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
        let body = error_body(status, &self.cause(), request_id);
        let mut response = Response::new(ProxyBody::text(body, Some(active)));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        headers.insert("x-request-id", request_id.clone());
        if let ProxyError::Gateway(rejection) = self {
            // The filter's own headers (WWW-Authenticate, Allow, Retry-After, RateLimit-*);
            // a filter's refusal says nothing about framing, so the connection stays open.
            for (name, value) in &rejection.headers {
                headers.insert(name.clone(), value.clone());
            }
        }
        // A body too large may be partly unread: the connection cannot carry another request.
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        let gateway = matches!(self, ProxyError::Gateway(_));
        if status == StatusCode::METHOD_NOT_ALLOWED && !gateway {
            headers.insert(
                header::ALLOW,
                HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE"),
            );
        }
        if !gateway
            && matches!(
                status,
                StatusCode::BAD_REQUEST | StatusCode::METHOD_NOT_ALLOWED
            )
        {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// `308 Permanent Redirect` to `location`: an http listener with `redirect_https` sends
/// every request to its https URL (308, unlike 301, keeps the method and body).
pub(crate) fn redirect(
    location: HeaderValue,
    request_id: &HeaderValue,
    active: RequestActive,
) -> Response<ProxyBody> {
    let status = StatusCode::PERMANENT_REDIRECT;
    let body = format!(
        "{} {}: {}\nrequest id: {}\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        String::from_utf8_lossy(location.as_bytes()),
        String::from_utf8_lossy(request_id.as_bytes()),
    );
    let mut response = Response::new(ProxyBody::text(body, Some(active)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::LOCATION, location);
    headers.insert("x-request-id", request_id.clone());
    response
}

/// The body of every error shoal answers itself.
fn error_body(status: StatusCode, cause: &str, request_id: &HeaderValue) -> String {
    format!(
        "{} {}: {}\nrequest id: {}\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        cause,
        String::from_utf8_lossy(request_id.as_bytes()),
    )
}

/// A complete HTTP/1.1 error response as bytes, for answers written straight to a client
/// socket before any request exists: the 408 of a head that never completed, and the
/// 400/414/431/501/505 of a head that cannot be served (`h1/server.rs`). The connection
/// always closes after it.
pub(crate) fn raw_response(status: StatusCode) -> Vec<u8> {
    let cause = match status {
        StatusCode::REQUEST_TIMEOUT => "request head not received in time",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "request header section too large",
        StatusCode::URI_TOO_LONG => "request target too long",
        StatusCode::NOT_IMPLEMENTED => "transfer codings other than chunked are not supported",
        StatusCode::HTTP_VERSION_NOT_SUPPORTED => "HTTP version not supported",
        _ => "malformed request",
    };
    let id = super::request_id::generate();
    let body = error_body(status, cause, &id);
    format!(
        "HTTP/1.1 {} {}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nx-request-id: {}\r\nconnection: close\r\n\r\n{body}",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len(),
        String::from_utf8_lossy(id.as_bytes()),
    )
    .into_bytes()
}
