//! shoal-test-support: dev-only helpers for shoal's tests. Everything here is real: backends
//! are hyper servers on `127.0.0.1:0`, clients open real TCP connections.
//!
//! - [`TestBackend`]: a fake backend with scriptable status, delay, body and failure
//!   [`Mode`]s, counting hits and connections and recording requests.
//! - [`TestClient`]: HTTP/1.1 and h2c requests returning a whole [`TestResponse`], and
//!   [`TestClient::raw`] for hostile bytes, read back with [`RawResponse`].
//! - [`TestCa`]: certificates made at test time; [`TempDir`]: scratch files.
//! - [`TestWsBackend`]: a WebSocket echo backend (tokio-tungstenite), or one refusing upgrades.
//! - [`TlsFront`]: TLS in front of any test backend (a TLS backend for upstream TLS tests).
//! - [`GrpcBackend`]: an HTTP/2-only backend with gRPC-style streaming echo and trailers.
//! - [`eventually`]: bounded polling for state only observable by looking.
//! - [`WebDriver`]: headless Chromium through chromedriver, for the dashboard's tests.
//!
//! It may depend on any shoal crate (it drives them), but no shoal crate may depend on it
//! except as a dev-dependency.

mod eventually;
mod grpc_backend;
mod raw_response;
mod temp_dir;
mod test_backend;
mod test_ca;
mod test_client;
mod test_proxy;
mod test_ws_backend;
mod tls_front;
mod web_driver;

pub use eventually::eventually;
pub use grpc_backend::{
    body_channel, grpc_message, take_grpc_messages, BodySender, ChannelBody, GrpcBackend,
    GrpcBackendBuilder, GrpcRequest,
};
pub use raw_response::RawResponse;
pub use temp_dir::TempDir;
pub use test_backend::{Mode, RecordedRequest, TestBackend, TestBackendBuilder};
pub use test_ca::{TestCa, TestCert};
pub use test_client::{TestClient, TestResponse};
pub use test_proxy::TestProxy;
pub use test_ws_backend::TestWsBackend;
pub use tls_front::{Handshake, TlsFront, TlsFrontBuilder};
pub use web_driver::{Element, WebDriver};
