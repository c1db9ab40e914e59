//! WebSocket tunnels closed by shoal, paced: an operator drain through the admin API's
//! `Control` (spread over `drain_timeout`, the count in the admin view), enable cancelling
//! it, a backend removed by reload, and shutdown within the grace period.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use shoal::app_control::AppControl;
use shoal::control::Controller;
use shoal_admin::{BackendView, Control};
use shoal_config::Config;
use shoal_proxy::ProxyHandle;
use shoal_test_support::{eventually, TestProxy, TestWsBackend};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use crate::support::backend_state;
use crate::websocket::{await_close, connect, next, ws_config, WAIT};

/// A proxy driven through the admin API's `Control` (as `shoal run` is).
struct Controlled {
    control: Arc<AppControl>,
    controller: Arc<Controller>,
    addr: SocketAddr,
}

impl Controlled {
    fn start(text: &str) -> Controlled {
        let config = Config::from_toml_str(text).expect("config");
        let handle = ProxyHandle::start(&config).expect("start");
        let addr = handle.listener_addr("web").expect("listener web");
        let controller = Arc::new(Controller::new(handle, config, None));
        Controlled {
            control: Arc::new(AppControl::new(Arc::clone(&controller))),
            controller,
            addr,
        }
    }

    /// The admin view of backend `addr` of upstream `app`.
    async fn view(&self, addr: SocketAddr) -> BackendView {
        let control = Arc::clone(&self.control);
        tokio::task::spawn_blocking(move || control.upstream("app"))
            .await
            .expect("view")
            .expect("upstream app")
            .backends
            .into_iter()
            .find(|b| b.addr == addr.to_string())
            .expect("backend")
    }

    async fn drain(&self, addr: SocketAddr) -> BackendView {
        let control = Arc::clone(&self.control);
        tokio::task::spawn_blocking(move || control.drain("app", &addr.to_string()))
            .await
            .expect("drain")
            .expect("drained")
    }
}

#[tokio::test]
async fn a_drain_closes_tunnels_paced_over_drain_timeout_and_counts_them() {
    let backend = TestWsBackend::echo("a").await;
    let drain_timeout = Duration::from_secs(3);
    let shoal = Controlled::start(&ws_config(
        &[backend.addr()],
        "round_robin",
        "drain_timeout = \"3s\"",
        "5s",
    ));
    const N: usize = 6;
    let mut clients = Vec::new();
    for _ in 0..N {
        let (mut ws, _) = connect(shoal.addr, "/", &[]).await;
        ws.send(Message::text("hi")).await.expect("send");
        assert_eq!(next(&mut ws, WAIT).await, Message::text("hi"));
        clients.push(tokio::spawn(await_close(ws, drain_timeout + WAIT)));
    }
    let view = shoal.view(backend.addr()).await;
    assert_eq!((view.tunnels, view.in_flight), (N as u64, N as u64));

    let started = Instant::now();
    let view = shoal.drain(backend.addr()).await;
    assert_eq!(view.state.as_str(), "draining");
    let mut closes = Vec::new();
    for client in clients {
        let (at, code) = client.await.expect("client");
        assert_eq!(code, Some(CloseCode::Away));
        closes.push(at);
    }
    closes.sort();
    let first = closes[0] - started;
    let last = closes[N - 1] - started;
    let spread = closes[N - 1] - closes[0];
    assert!(
        first < Duration::from_millis(1500),
        "first close after {first:?}"
    );
    assert!(
        spread >= drain_timeout / 3,
        "closes spread over {spread:?} only: {closes:?}"
    );
    assert!(
        last < drain_timeout + Duration::from_secs(2),
        "last close after {last:?}"
    );
    // Not in bursts either: no two thirds of them within one sixth of the window.
    let burst = closes
        .windows(N * 2 / 3)
        .map(|w| w[w.len() - 1] - w[0])
        .min()
        .expect("windows");
    assert!(burst >= drain_timeout / 6, "a burst of closes: {closes:?}");

    // The count is in the admin view, and the backend got a Close for each tunnel.
    eventually(WAIT, || async {
        let view = shoal.view(backend.addr()).await;
        view.tunnels == 0 && view.tunnels_closed_by_drain == N as u64 && view.in_flight == 0
    })
    .await;
    eventually(WAIT, || async { backend.closes().len() == N }).await;
    assert!(backend
        .closes()
        .iter()
        .all(|c| c.as_ref().map(|c| c.0) == Some(1001)));
    shoal.controller.proxy().stop().await;
}

#[tokio::test]
async fn enabling_a_draining_backend_keeps_the_tunnels_not_closed_yet() {
    let backend = TestWsBackend::echo("a").await;
    let shoal = Controlled::start(&ws_config(
        &[backend.addr()],
        "round_robin",
        "drain_timeout = \"30s\"",
        "5s",
    ));
    let (first, _) = connect(shoal.addr, "/", &[]).await;
    let (mut second, _) = connect(shoal.addr, "/", &[]).await;
    shoal.drain(backend.addr()).await;
    // The first closes at once; the second's turn is 15 s away, and enable cancels it.
    let (_, code) = await_close(first, WAIT).await;
    assert_eq!(code, Some(CloseCode::Away));
    let control = Arc::clone(&shoal.control);
    let addr = backend.addr().to_string();
    tokio::task::spawn_blocking(move || control.enable("app", &addr))
        .await
        .expect("enable")
        .expect("enabled");
    second.send(Message::text("still")).await.expect("send");
    assert_eq!(next(&mut second, WAIT).await, Message::text("still"));
    eventually(WAIT, || async {
        let view = shoal.view(backend.addr()).await;
        (view.tunnels, view.tunnels_closed_by_drain) == (1, 1)
    })
    .await;
    shoal.controller.proxy().stop().await;
}

#[tokio::test]
async fn a_backend_removed_by_reload_has_its_tunnels_closed_paced() {
    let a = TestWsBackend::echo("a").await;
    let b = TestWsBackend::echo("b").await;
    let text =
        |backend: SocketAddr| ws_config(&[backend], "round_robin", "drain_timeout = \"2s\"", "5s");
    let proxy = TestProxy::start(&text(a.addr()));
    let state = backend_state(&proxy, "app", a.addr()).expect("a");
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (ws, name) = connect(proxy.addr(), "/", &[]).await;
        assert_eq!(name, "a");
        clients.push(tokio::spawn(await_close(ws, Duration::from_secs(2) + WAIT)));
    }
    let started = Instant::now();
    proxy.reload(&text(b.addr()));
    let mut closes = Vec::new();
    for client in clients {
        let (at, code) = client.await.expect("client");
        assert_eq!(code, Some(CloseCode::Away));
        closes.push(at - started);
    }
    closes.sort();
    assert!(
        closes[3] - closes[0] >= Duration::from_millis(600),
        "{closes:?}"
    );
    assert!(closes[3] < Duration::from_secs(4), "{closes:?}");
    eventually(WAIT, || async {
        state.tunnels_open() == 0 && state.tunnels_closed_by_drain() == 4
    })
    .await;
    let (_, name) = connect(proxy.addr(), "/", &[]).await;
    assert_eq!(name, "b", "new upgrades go to the new config's backend");
}

#[tokio::test]
async fn shutdown_closes_tunnels_within_the_grace_period() {
    let backend = TestWsBackend::echo("a").await;
    let grace = Duration::from_secs(4);
    let proxy = TestProxy::start(&ws_config(&[backend.addr()], "round_robin", "", "4s"));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (ws, _) = connect(proxy.addr(), "/", &[]).await;
        clients.push(tokio::spawn(await_close(ws, grace + WAIT)));
    }
    let started = Instant::now();
    proxy.begin_shutdown();
    let mut closes = Vec::new();
    for client in clients {
        let (at, code) = client.await.expect("client");
        assert_eq!(code, Some(CloseCode::Away));
        closes.push(at - started);
    }
    closes.sort();
    assert!(closes[3] < grace, "closed after {closes:?}");
    assert!(
        closes[3] - closes[0] >= Duration::from_millis(500),
        "all at once: {closes:?}"
    );
    tokio::time::timeout(grace + Duration::from_secs(2), proxy.stop())
        .await
        .expect("shoal stops within the grace period");
    assert!(started.elapsed() < grace + Duration::from_secs(1));
    eventually(WAIT, || async { backend.closes().len() == 4 }).await;
}
