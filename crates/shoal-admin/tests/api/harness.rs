//! A running [`AdminServer`] on `127.0.0.1:0` with a [`FakeControl`], and two clients: hyper
//! (one connection per request) and raw bytes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use shoal_admin::AdminServer;
use shoal_core::Shutdown;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::fake_control::FakeControl;

/// Bounds every wait in these tests, so a bug fails instead of hanging.
pub const LIMIT: Duration = Duration::from_secs(10);

pub struct TestServer {
    pub addr: SocketAddr,
    pub control: Arc<FakeControl>,
    pub shutdown: Shutdown,
    pub task: JoinHandle<std::io::Result<()>>,
    /// Sent as `Authorization: Bearer <token>` by [`TestServer::request`].
    pub client_token: Option<String>,
}

pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl TestResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an error answer: status, JSON content type, `code`, and a non-empty `error`.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) -> Value {
        let json = self.json();
        assert_eq!(self.status.as_u16(), status, "{json}");
        assert_eq!(self.header("content-type"), Some("application/json"));
        assert_eq!(json["code"], code, "{json}");
        let message = json["error"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{json}");
        json
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(None).await
    }

    /// With `token`, the server requires it and the client sends it.
    pub async fn start_with(token: Option<&str>) -> TestServer {
        let control = Arc::new(FakeControl::new());
        let server = AdminServer::bind(
            "127.0.0.1:0".parse().expect("addr"),
            token.map(str::to_string),
            Arc::clone(&control) as Arc<dyn shoal_admin::Control>,
        )
        .expect("bind");
        let addr = server.local_addr();
        let (shutdown, signal) = Shutdown::new();
        let task = tokio::spawn(server.serve(signal));
        TestServer {
            addr,
            control,
            shutdown,
            task,
            client_token: token.map(str::to_string),
        }
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.request(Method::GET, path, &[], None).await
    }

    pub async fn post(&self, path: &str) -> TestResponse {
        self.request(Method::POST, path, &[], None).await
    }

    pub async fn delete(&self, path: &str) -> TestResponse {
        self.request(Method::DELETE, path, &[], None).await
    }

    /// A request with a JSON body (`Content-Type: application/json`).
    pub async fn send_json(&self, method: Method, path: &str, body: &str) -> TestResponse {
        self.request(
            method,
            path,
            &[("content-type", "application/json")],
            Some(body.to_string()),
        )
        .await
    }

    /// One request on a new connection, with the client token unless `headers` has an
    /// `authorization` of its own.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> TestResponse {
        tokio::time::timeout(LIMIT, self.request_inner(method, path, headers, body))
            .await
            .expect("request timed out")
    }

    async fn request_inner(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> TestResponse {
        let stream = TcpStream::connect(self.addr).await.expect("connect");
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(connection);
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string());
        let has_auth = headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("authorization"));
        if let (Some(token), false) = (&self.client_token, has_auth) {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .expect("request");
        let response = sender.send_request(request).await.expect("send");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        TestResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// Writes `bytes` on a new connection and reads until the server closes it.
    pub async fn raw(&self, bytes: &[u8]) -> String {
        self.raw_within(bytes, LIMIT).await
    }

    /// [`TestServer::raw`] with another bound (server timeouts under paused time need more).
    pub async fn raw_within(&self, bytes: &[u8], limit: Duration) -> String {
        let read = async {
            let mut stream = TcpStream::connect(self.addr).await.expect("connect");
            // The server may answer and close before reading everything (a head too large):
            // then the write fails, and the answer is still there to read.
            let _ = stream.write_all(bytes).await;
            let mut out = Vec::new();
            // A reset after the answer is fine: keep what arrived.
            let _ = stream.read_to_end(&mut out).await;
            String::from_utf8_lossy(&out).into_owned()
        };
        tokio::time::timeout(limit, read)
            .await
            .expect("raw request timed out")
    }

    /// Triggers shutdown and waits for `serve` to return.
    pub async fn stop(self) {
        self.shutdown.trigger();
        tokio::time::timeout(LIMIT, self.task)
            .await
            .expect("serve did not return")
            .expect("serve task")
            .expect("serve");
    }
}
