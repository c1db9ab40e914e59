//! The probers against real tiny servers on 127.0.0.1:0, started by each test.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use shoal_config::{HealthCheckKind, HealthConfig};
use shoal_health::{probe_http, probe_tcp, ProbeOutcome, Prober};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Long enough never to fire on a loaded 2-core machine when the server does answer.
const GENEROUS: Duration = Duration::from_secs(5);
const EXPECT: (u16, u16) = (200, 399);

/// Reads one request head (bounded), returning it as text.
async fn read_head(sock: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// A server answering every connection with `answer(request_head)`, in `pieces` writes, then
/// closing. Each request head is sent on the returned channel.
async fn serve<F>(answer: F, pieces: usize) -> (SocketAddr, mpsc::UnboundedReceiver<String>)
where
    F: Fn(&str) -> Vec<u8> + Send + Sync + Clone + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let (tx, answer) = (tx.clone(), answer.clone());
            tokio::spawn(async move {
                let head = read_head(&mut sock).await;
                let bytes = answer(&head);
                let _ = tx.send(head);
                let size = bytes.len().div_ceil(pieces.max(1)).max(1);
                for piece in bytes.chunks(size) {
                    if sock.write_all(piece).await.is_err() {
                        return;
                    }
                    let _ = sock.flush().await;
                    tokio::task::yield_now().await;
                }
            });
        }
    });
    (addr, rx)
}

async fn fixed(bytes: &'static [u8]) -> SocketAddr {
    serve(move |_| bytes.to_vec(), 1).await.0
}

/// An address nothing listens on (bound, then closed).
async fn refused_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    drop(listener);
    addr
}

/// Accepts connections and never answers (holds them open).
async fn silent() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    addr
}

fn reason(outcome: &ProbeOutcome) -> &str {
    outcome.reason().unwrap_or("")
}

#[tokio::test]
async fn status_200_is_ready_and_the_request_is_exactly_as_specified() {
    let (addr, mut requests) = serve(
        |_| b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(),
        1,
    )
    .await;
    let outcome = probe_http(addr, "/health/ready", &addr.to_string(), GENEROUS, EXPECT).await;
    assert_eq!(outcome, ProbeOutcome::Ready);
    let head = requests.recv().await.expect("a request");
    assert_eq!(
        head,
        format!(
            "GET /health/ready HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: shoal-health\r\nConnection: close\r\n\r\n"
        )
    );
}

#[tokio::test]
async fn status_503_is_not_ready_with_the_status_as_reason() {
    let addr = fixed(b"HTTP/1.1 503 Service Unavailable\r\n\r\n").await;
    let outcome = probe_http(addr, "/", "h", GENEROUS, EXPECT).await;
    assert_eq!(
        outcome,
        ProbeOutcome::NotReady("HTTP 503 (expected 200-399)".to_string())
    );
}

#[tokio::test]
async fn the_expect_range_is_inclusive_at_both_ends() {
    let addr = fixed(b"HTTP/1.0 204 No Content\r\n\r\n").await;
    assert!(probe_http(addr, "/", "h", GENEROUS, (204, 204))
        .await
        .is_ready());
    assert!(probe_http(addr, "/", "h", GENEROUS, (200, 204))
        .await
        .is_ready());
    let outcome = probe_http(addr, "/", "h", GENEROUS, (200, 200)).await;
    assert_eq!(reason(&outcome), "HTTP 204 (expected 200-200)");
}

#[tokio::test]
async fn a_status_line_arriving_byte_by_byte_is_read() {
    let (addr, _requests) = serve(|_| b"HTTP/1.1 200 OK\r\n\r\n".to_vec(), 19).await;
    assert!(probe_http(addr, "/", "h", GENEROUS, EXPECT)
        .await
        .is_ready());
}

#[tokio::test]
async fn garbage_is_not_ready() {
    let addr = fixed(b"SSH-2.0-OpenSSH_9.6\r\n").await;
    let outcome = probe_http(addr, "/", "h", GENEROUS, EXPECT).await;
    assert!(matches!(outcome, ProbeOutcome::NotReady(_)));
    assert_eq!(
        reason(&outcome),
        "malformed status line \"SSH-2.0-OpenSSH_9.6\""
    );
}

#[tokio::test]
async fn an_endless_line_is_cut_at_the_head_bound() {
    let (addr, _requests) = serve(|_| vec![b'x'; 64 * 1024], 16).await;
    let outcome = probe_http(addr, "/", "h", GENEROUS, EXPECT).await;
    assert_eq!(reason(&outcome), "no status line in the first 4096 bytes");
}

#[tokio::test]
async fn a_close_without_an_answer_is_not_ready() {
    let addr = fixed(b"").await;
    let outcome = probe_http(addr, "/", "h", GENEROUS, EXPECT).await;
    assert_eq!(reason(&outcome), "connection closed before a status line");
    let addr = fixed(b"HTTP/1.1 200 OK").await;
    let outcome = probe_http(addr, "/", "h", GENEROUS, EXPECT).await;
    assert_eq!(
        reason(&outcome),
        "malformed status line \"HTTP/1.1 200 OK\""
    );
}

#[tokio::test]
async fn refused_is_not_ready() {
    let addr = refused_addr().await;
    let outcome = probe_http(addr, "/", "h", GENEROUS, EXPECT).await;
    assert!(matches!(outcome, ProbeOutcome::NotReady(_)));
    assert!(reason(&outcome).starts_with("connect: "), "{outcome}");
    let outcome = probe_tcp(addr, GENEROUS).await;
    assert!(reason(&outcome).starts_with("connect: "), "{outcome}");
}

#[tokio::test]
async fn a_backend_that_never_answers_is_not_ready_within_the_timeout() {
    // Real time: paused tokio time would auto-advance past the timeout while the runtime
    // waits on the socket, which proves nothing about the deadline.
    let addr = silent().await;
    let timeout = Duration::from_millis(200);
    let started = Instant::now();
    let outcome = probe_http(addr, "/", "h", timeout, EXPECT).await;
    let took = started.elapsed();
    assert_eq!(
        outcome,
        ProbeOutcome::NotReady("timed out after 200ms".to_string())
    );
    assert!(took >= timeout, "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn tcp_probe_is_ready_when_a_connection_opens() {
    let addr = silent().await;
    assert_eq!(probe_tcp(addr, GENEROUS).await, ProbeOutcome::Ready);
}

#[tokio::test]
async fn an_invalid_host_is_refused_before_anything_is_sent() {
    let (addr, mut requests) = serve(|_| b"HTTP/1.1 200 OK\r\n\r\n".to_vec(), 1).await;
    let outcome = probe_http(addr, "/", "a\r\nX-Evil: 1", GENEROUS, EXPECT).await;
    assert_eq!(
        reason(&outcome),
        "invalid probe host: contains a space or control character"
    );
    assert!(requests.try_recv().is_err());
}

fn config(kind: HealthCheckKind, liveness_path: Option<&str>) -> HealthConfig {
    HealthConfig {
        kind,
        path: "/ready".to_string(),
        liveness_path: liveness_path.map(str::to_string),
        interval: Duration::from_secs(5),
        timeout: GENEROUS,
        rise: 2,
        fall: 3,
        expect_status: EXPECT,
        host: None,
        wait_for_first_check: true,
    }
}

/// Answers `/ready` with `ready`, `/live` with `live`.
async fn by_path(ready: u16, live: u16) -> (SocketAddr, mpsc::UnboundedReceiver<String>) {
    serve(
        move |head| {
            let status = if head.starts_with("GET /live ") {
                live
            } else {
                ready
            };
            format!("HTTP/1.1 {status} X\r\n\r\n").into_bytes()
        },
        1,
    )
    .await
}

#[tokio::test]
async fn prober_reports_readiness_and_liveness() {
    let prober = Prober::new(&config(HealthCheckKind::Http, Some("/live")));

    let (addr, _r) = by_path(200, 200).await;
    assert_eq!(prober.check(addr).await, ProbeOutcome::Ready);

    let (addr, _r) = by_path(503, 200).await;
    assert_eq!(
        prober.check(addr).await,
        ProbeOutcome::NotReady("HTTP 503 (expected 200-399)".to_string())
    );

    let (addr, _r) = by_path(200, 500).await;
    assert_eq!(
        prober.check(addr).await,
        ProbeOutcome::LivenessFailed("GET /live: HTTP 500 (expected 200-399)".to_string())
    );

    let addr = refused_addr().await;
    let outcome = prober.check(addr).await;
    assert!(
        matches!(outcome, ProbeOutcome::LivenessFailed(_)),
        "{outcome}"
    );
}

#[tokio::test]
async fn prober_without_liveness_sends_one_request_with_the_configured_host() {
    let mut cfg = config(HealthCheckKind::Http, None);
    cfg.host = Some("api.internal".to_string());
    let prober = Prober::new(&cfg);
    let (addr, mut requests) = by_path(200, 500).await;
    assert_eq!(prober.check(addr).await, ProbeOutcome::Ready);
    let head = requests.recv().await.expect("a request");
    assert!(
        head.starts_with("GET /ready HTTP/1.1\r\nHost: api.internal\r\n"),
        "{head}"
    );
    assert!(requests.try_recv().is_err(), "one request only");

    let addr = refused_addr().await;
    assert!(matches!(
        prober.check(addr).await,
        ProbeOutcome::NotReady(_)
    ));
}

#[tokio::test]
async fn prober_runs_both_probes_within_one_timeout() {
    let mut cfg = config(HealthCheckKind::Http, Some("/live"));
    cfg.timeout = Duration::from_millis(500);
    let prober = Prober::new(&cfg);
    let addr = silent().await;
    let started = Instant::now();
    let outcome = prober.check(addr).await;
    assert_eq!(
        outcome,
        ProbeOutcome::LivenessFailed("GET /live: timed out after 500ms".to_string())
    );
    // Sequential probes would take 1 s.
    assert!(
        started.elapsed() < Duration::from_millis(990),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn tcp_prober_connects_and_ignores_paths() {
    let prober = Prober::new(&config(HealthCheckKind::Tcp, Some("/live")));
    assert_eq!(prober.check(silent().await).await, ProbeOutcome::Ready);
    let outcome = prober.check(refused_addr().await).await;
    assert!(matches!(outcome, ProbeOutcome::NotReady(_)), "{outcome}");
}
