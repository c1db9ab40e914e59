//! HTTP/2 to backends (`protocol = "h2"`): hyper's HTTP/2 client connection
//! (`hyper::client::conn::http2`), shared by many requests at once.
//!
//! Each worker keeps its own connections to each backend ([`H2Pool`], in
//! [`crate::BackendState`]): a request takes a stream on one that has room under the
//! backend's `SETTINGS_MAX_CONCURRENT_STREAMS`, and another connection is opened when none
//! has; concurrent requests that find none wait for one connect instead of each opening
//! their own. A new connection is used once the backend's SETTINGS have arrived, so streams
//! are only taken under its real limit. A connection's task closes the connection after
//! `keepalive_timeout` without streams. After a GOAWAY the connection takes no new streams
//! (the next request opens another) while the streams it had finish.
//!
//! Bodies stream both ways as they come and trailers pass through both ways: hyper pipes the
//! request body (trailers included) in a task of its own, and the response body is the
//! backend's stream, read as the client takes it. A failure is classified by whether the
//! backend could have processed the request ([`H2Error`]): a refused stream
//! (`REFUSED_STREAM`), a stream beyond a GOAWAY's last stream id, or a request that never left
//! shoal may be sent again, like an unsent HTTP/1.1 request.

mod h2_conn;
mod h2_error;
mod h2_pool;
mod h2_probe;
mod h2_request;
mod h2_response_body;
#[cfg(test)]
mod test_backend;

pub use h2_conn::{H2Conn, StreamSlot};
pub use h2_error::H2Error;
pub use h2_pool::H2Pool;
pub(crate) use h2_probe::probe_status;
pub use h2_request::prepare_request;
pub use h2_response_body::H2ResponseBody;
