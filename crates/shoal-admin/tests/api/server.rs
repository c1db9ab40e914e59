//! The server itself: binding, and graceful shutdown.

use std::sync::Arc;

use shoal_admin::{AdminServer, Control};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::fake_control::FakeControl;
use crate::harness::{TestServer, LIMIT};

#[tokio::test]
async fn binds_port_zero_and_reports_the_real_port() {
    let server = TestServer::start().await;
    assert!(server.addr.ip().is_loopback());
    assert_ne!(server.addr.port(), 0);
    server.stop().await;
}

#[tokio::test]
async fn a_taken_port_is_an_error_at_bind() {
    let server = TestServer::start().await;
    let control: Arc<dyn Control> = Arc::new(FakeControl::new());
    let error = AdminServer::bind(server.addr, None, control).expect_err("port is taken");
    assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse);
    server.stop().await;
}

#[test]
fn bind_needs_no_runtime() {
    let control: Arc<dyn Control> = Arc::new(FakeControl::new());
    let server = AdminServer::bind("127.0.0.1:0".parse().expect("addr"), None, control)
        .expect("bind outside a runtime");
    assert!(format!("{server:?}").contains("AdminServer"));
}

#[tokio::test]
async fn shutdown_finishes_the_request_in_flight_then_stops() {
    let server = TestServer::start().await;
    let (started, release) = server.control.hold_reload();
    let addr = server.addr;
    let client = {
        let control = Arc::clone(&server.control);
        let harness = TestServer {
            addr,
            control,
            shutdown: shoal_core::Shutdown::new().0,
            task: tokio::spawn(async { Ok(()) }),
            client_token: None,
        };
        tokio::spawn(async move { harness.post("/api/v1/reload").await })
    };
    tokio::time::timeout(LIMIT, started)
        .await
        .expect("reload started")
        .expect("reload started");

    // An idle keep-alive connection, open before shutdown.
    let mut idle = TcpStream::connect(addr).await.expect("connect");
    idle.write_all(b"GET /live HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("write");
    let mut first = vec![0u8; 1024];
    let n = idle.read(&mut first).await.expect("read");
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));

    server.shutdown.trigger();
    // The idle connection is closed by the server, not left open.
    let mut rest = Vec::new();
    tokio::time::timeout(LIMIT, idle.read_to_end(&mut rest))
        .await
        .expect("idle connection closed")
        .expect("read");
    assert!(
        !server.task.is_finished(),
        "serve returned with a request in flight"
    );

    release.send(()).expect("release");
    let response = tokio::time::timeout(LIMIT, client)
        .await
        .expect("response")
        .expect("client task");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("connection"), Some("close"));

    tokio::time::timeout(LIMIT, server.task)
        .await
        .expect("serve returned")
        .expect("serve task")
        .expect("serve");
    // Nothing listens any more.
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn shutdown_with_no_connections_is_prompt() {
    let server = TestServer::start().await;
    assert_eq!(server.get("/live").await.status, 200);
    let addr = server.addr;
    server.stop().await;
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn shutdown_before_serve_returns_at_once() {
    let control: Arc<dyn Control> = Arc::new(FakeControl::new());
    let server =
        AdminServer::bind("127.0.0.1:0".parse().expect("addr"), None, control).expect("bind");
    let (shutdown, signal) = shoal_core::Shutdown::new();
    shutdown.trigger();
    tokio::time::timeout(LIMIT, server.serve(signal))
        .await
        .expect("serve returned")
        .expect("serve");
}
