//! [`TestWsBackend`]: a real WebSocket echo backend on `127.0.0.1:0` (hyper for HTTP/1.1 and
//! the upgrade, tokio-tungstenite for the frames), that also answers plain HTTP requests.
//!
//! - A WebSocket upgrade gets a 101 (with `x-backend: NAME`), then every text and binary
//!   message is echoed back; pings are answered by tungstenite; a Close is answered and
//!   recorded ([`TestWsBackend::closes`]), so tests can see what shoal sent the backend.
//! - In refusing mode ([`TestWsBackend::refusing`]) an upgrade gets that status instead, as an
//!   ordinary response, and the connection stays HTTP.
//! - Any other request gets `200`, body `NAME PATH`.
//!
//! Every request is recorded ([`TestWsBackend::requests`]).
//!
//! ```ignore
//! let a = TestWsBackend::echo("a").await;
//! let refusing = TestWsBackend::refusing("r", 403).await;
//! ```

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::header::{CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::test_backend::RecordedRequest;

#[derive(Debug)]
struct Shared {
    name: String,
    /// `Some(status)`: upgrades are refused with it.
    refuse: Option<StatusCode>,
    upgrades: AtomicU64,
    open: AtomicUsize,
    requests: Mutex<Vec<RecordedRequest>>,
    /// The Close frames received: status code and reason (`None`: a Close without a code).
    closes: Mutex<Vec<Option<(u16, String)>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running WebSocket backend; dropping it stops accepting and ends its connections.
#[derive(Debug)]
pub struct TestWsBackend {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for TestWsBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestWsBackend {
    /// An echo backend named `name`. Panics if it cannot bind.
    pub async fn echo(name: &str) -> TestWsBackend {
        Self::start(name, None)
            .await
            .expect("TestWsBackend: could not start on 127.0.0.1:0")
    }

    /// A backend that answers every upgrade with `status` (e.g. 403, or 200) instead of 101.
    pub async fn refusing(name: &str, status: u16) -> TestWsBackend {
        let status = StatusCode::from_u16(status).expect("TestWsBackend: invalid status");
        Self::start(name, Some(status))
            .await
            .expect("TestWsBackend: could not start on 127.0.0.1:0")
    }

    async fn start(name: &str, refuse: Option<StatusCode>) -> io::Result<TestWsBackend> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            name: name.to_string(),
            refuse,
            upgrades: AtomicU64::new(0),
            open: AtomicUsize::new(0),
            requests: Mutex::new(Vec::new()),
            closes: Mutex::new(Vec::new()),
        });
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        Ok(TestWsBackend { addr, shared, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Upgrades accepted (101 sent) so far.
    pub fn upgrades(&self) -> u64 {
        self.shared.upgrades.load(Ordering::SeqCst)
    }

    /// WebSocket sessions open now.
    pub fn open(&self) -> usize {
        self.shared.open.load(Ordering::SeqCst)
    }

    /// Every request received (upgrades included), oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// The Close frames received so far: `(code, reason)`, `None` for one without a code.
    pub fn closes(&self) -> Vec<Option<(u16, String)>> {
        lock(&self.shared.closes).clone()
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    while let Ok((stream, _)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(req, Arc::clone(&shared)));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
    }
}

fn has_token(req: &Request<Incoming>, name: http::header::HeaderName, token: &str) -> bool {
    req.headers()
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

async fn handle(
    mut req: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    lock(&shared.requests).push(RecordedRequest {
        method: req.method().clone(),
        uri: req.uri().clone(),
        version: req.version(),
        headers: req.headers().clone(),
        body: Bytes::new(),
    });
    let backend = HeaderValue::from_str(&shared.name).unwrap_or(HeaderValue::from_static("?"));
    let upgrade = has_token(&req, UPGRADE, "websocket") && has_token(&req, CONNECTION, "upgrade");
    let key = req.headers().get(SEC_WEBSOCKET_KEY).cloned();
    let mut response = match (upgrade, key, shared.refuse) {
        (true, Some(_), Some(status)) => {
            let mut r = Response::new(Full::new(Bytes::from(format!(
                "upgrade refused by {}",
                shared.name
            ))));
            *r.status_mut() = status;
            r
        }
        (true, Some(key), None) => {
            let on_upgrade = hyper::upgrade::on(&mut req);
            let echo_shared = Arc::clone(&shared);
            tokio::spawn(async move {
                if let Ok(upgraded) = on_upgrade.await {
                    let ws = WebSocketStream::from_raw_socket(
                        TokioIo::new(upgraded),
                        Role::Server,
                        None,
                    )
                    .await;
                    echo(ws, echo_shared).await;
                }
            });
            shared.upgrades.fetch_add(1, Ordering::SeqCst);
            let mut r = Response::new(Full::new(Bytes::new()));
            *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
            let h = r.headers_mut();
            h.insert(UPGRADE, HeaderValue::from_static("websocket"));
            h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
            if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
                h.insert(SEC_WEBSOCKET_ACCEPT, accept);
            }
            r
        }
        _ => Response::new(Full::new(Bytes::from(format!(
            "{} {}",
            shared.name,
            req.uri().path()
        )))),
    };
    response.headers_mut().insert("x-backend", backend);
    Ok(response)
}

/// Keeps `open` right however a session ends.
struct Open(Arc<Shared>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn echo<S>(mut ws: WebSocketStream<S>, shared: Arc<Shared>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    shared.open.fetch_add(1, Ordering::SeqCst);
    let _open = Open(Arc::clone(&shared));
    while let Some(message) = ws.next().await {
        match message {
            Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                if ws.send(m).await.is_err() {
                    break;
                }
            }
            Ok(Message::Close(frame)) => {
                lock(&shared.closes)
                    .push(frame.map(|f| (u16::from(f.code), f.reason.as_str().to_string())));
                // tungstenite answers the Close itself; reading on sends it and ends the
                // stream.
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
}
