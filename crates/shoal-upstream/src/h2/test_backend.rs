//! A backend for the HTTP/2 pool's tests: hyper's HTTP/2 server allowing `max_streams`
//! streams per connection (it refuses more), answering none until `hold_until` requests are
//! in flight at once across its connections. Optionally its first connection stays silent,
//! no SETTINGS, until released.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response, Version};
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Notify};

use crate::body::UpstreamBody;

/// Longest a held request waits for the others (a failing test fails, not hangs).
const HOLD_LIMIT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Shared {
    connections: AtomicUsize,
    in_flight: AtomicUsize,
    /// Set once `hold_until` requests were in flight together.
    open: AtomicBool,
    opened: Notify,
}

pub(super) struct TestBackend {
    pub(super) addr: SocketAddr,
    shared: Arc<Shared>,
}

impl TestBackend {
    /// `gate`: the first connection's SETTINGS wait for it to fire (or be dropped).
    pub(super) async fn start(
        max_streams: u32,
        hold_until: usize,
        gate: Option<oneshot::Receiver<()>>,
    ) -> TestBackend {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shared = Arc::new(Shared::default());
        let accepting = Arc::clone(&shared);
        tokio::spawn(async move {
            let mut gate = gate;
            while let Ok((stream, _)) = listener.accept().await {
                accepting.connections.fetch_add(1, Ordering::SeqCst);
                let (gate, shared) = (gate.take(), Arc::clone(&accepting));
                tokio::spawn(async move {
                    if let Some(gate) = gate {
                        let _ = gate.await;
                    }
                    let service = service_fn(move |_request| {
                        let shared = Arc::clone(&shared);
                        async move {
                            hold(&shared, hold_until).await;
                            Ok::<_, std::convert::Infallible>(Response::new(UpstreamBody::Empty))
                        }
                    });
                    let _ = http2::Builder::new(TokioExecutor::new())
                        .max_concurrent_streams(max_streams)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        TestBackend { addr, shared }
    }

    pub(super) fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// `GET /hold` as the proxy sends it.
    pub(super) fn get(&self) -> Request<UpstreamBody> {
        let mut request = Request::new(UpstreamBody::Empty);
        *request.uri_mut() = format!("http://{}/hold", self.addr).parse().expect("uri");
        *request.version_mut() = Version::HTTP_2;
        request
    }
}

async fn hold(shared: &Shared, hold_until: usize) {
    if shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1 >= hold_until {
        shared.open.store(true, Ordering::SeqCst);
        shared.opened.notify_waiters();
    }
    let _ = tokio::time::timeout(HOLD_LIMIT, async {
        loop {
            let opened = shared.opened.notified();
            if shared.open.load(Ordering::SeqCst) {
                return;
            }
            opened.await;
        }
    })
    .await;
    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
}
