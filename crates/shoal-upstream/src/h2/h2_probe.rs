//! An active HTTP check sent as HTTP/2, for `protocol = "h2"` upstreams (their backends,
//! gRPC servers especially, often speak nothing else).

use http::header::USER_AGENT;
use http::{HeaderValue, Request, Uri};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use shoal_health::ProbeError;

use super::h2_error::describe;
use crate::backend_stream::BackendStream;
use crate::body::UpstreamBody;

/// `GET path` with `:authority` `host` on a fresh connection; the response status. `path`
/// and `host` have passed `shoal_health::probe_request`'s checks.
pub(crate) async fn probe_status(
    stream: BackendStream,
    path: &str,
    host: &str,
    tls: bool,
) -> Result<u16, ProbeError> {
    let scheme = if tls { "https" } else { "http" };
    let uri: Uri = format!("{scheme}://{host}{path}")
        .parse()
        .map_err(|_| ProbeError::InvalidRequest("path"))?;
    let (mut send, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
        .await
        .map_err(|e| ProbeError::Http2(describe(&e)))?;
    // Stopped however the probe ends (its caller's timeout drops this future).
    let _driver = AbortOnDrop(tokio::spawn(conn));
    let mut request = Request::new(UpstreamBody::Empty);
    *request.uri_mut() = uri;
    request
        .headers_mut()
        .insert(USER_AGENT, HeaderValue::from_static("shoal-health"));
    send.send_request(request)
        .await
        .map(|response| response.status().as_u16())
        .map_err(|e| ProbeError::Http2(describe(&e)))
}

/// One request per connection: the connection's task goes when the probe does.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
