//! WebSocket through shoal, with a real client (tokio-tungstenite) and real backends: echo of
//! every kind of message, upgrades refused or malformed (the connection stays HTTP, nothing is
//! tunnelled before a 101), the idle timeout, tunnels counted in flight, stickiness by
//! `hash_key`. Drains and shutdown closing tunnels: `websocket_drain.rs`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use shoal_test_support::{eventually, RawResponse, TestProxy, TestWsBackend};
use shoal_upstream::Operation;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};

use crate::support::{backend_state, RawConn, Refusing};

pub(crate) const WAIT: Duration = Duration::from_secs(5);
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Listener `web` → upstream `app` (`algorithm` over `backends`, plus `extra` lines).
pub(crate) fn ws_config(
    backends: &[SocketAddr],
    algorithm: &str,
    extra: &str,
    grace: &str,
) -> String {
    let list: Vec<String> = backends.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        "[server]\nworkers = 2\ngrace_period = \"{grace}\"\n\n\
         [listeners.web]\nbind = \"127.0.0.1:0\"\n\n\
         [[listeners.web.routes]]\nupstream = \"app\"\n\n\
         [upstreams.app]\nalgorithm = \"{algorithm}\"\nbackends = [{}]\n{extra}\n",
        list.join(", ")
    )
}

/// Opens a WebSocket through `proxy` to `path` with extra request headers; the stream and the
/// backend that accepted it (its `x-backend`).
pub(crate) async fn connect(
    proxy: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> (Ws, String) {
    let mut request = format!("ws://{proxy}{path}")
        .into_client_request()
        .expect("request");
    for (name, value) in headers {
        request.headers_mut().insert(
            HeaderName::from_bytes(name.as_bytes()).expect("name"),
            HeaderValue::from_str(value).expect("value"),
        );
    }
    let (ws, response) = tokio::time::timeout(WAIT, connect_async(request))
        .await
        .expect("handshake in time")
        .expect("handshake");
    let backend = response
        .headers()
        .get("x-backend")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (ws, backend)
}

/// The next message, within `within`.
pub(crate) async fn next(ws: &mut Ws, within: Duration) -> Message {
    tokio::time::timeout(within, ws.next())
        .await
        .expect("a message in time")
        .expect("the stream goes on")
        .expect("a valid message")
}

/// Waits for the Close frame shoal sends (reading past any echo), then lets the close
/// handshake finish. Returns when it came and its code.
pub(crate) async fn await_close(mut ws: Ws, within: Duration) -> (Instant, Option<CloseCode>) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let message = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("closed in time")
            .expect("a Close frame before the end")
            .expect("a valid message");
        if let Message::Close(frame) = message {
            let at = Instant::now();
            // Reading on answers the Close and sees the end.
            let _ = tokio::time::timeout(WAIT, async { while ws.next().await.is_some() {} }).await;
            return (at, frame.map(|f| f.code));
        }
    }
}

/// An upgrade request head (`extra` lines before the blank line).
fn upgrade_request(path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: a.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

#[tokio::test]
async fn messages_of_every_kind_are_echoed_through_the_proxy() {
    let backend = TestWsBackend::echo("a").await;
    let proxy = TestProxy::start(&ws_config(&[backend.addr()], "round_robin", "", "5s"));
    let (mut ws, name) = connect(proxy.addr(), "/chat?room=1", &[]).await;
    assert_eq!(name, "a");

    ws.send(Message::text("hello")).await.expect("send");
    assert_eq!(next(&mut ws, WAIT).await, Message::text("hello"));
    ws.send(Message::binary(vec![0u8, 1, 2, 255]))
        .await
        .expect("send");
    assert_eq!(
        next(&mut ws, WAIT).await,
        Message::binary(vec![0u8, 1, 2, 255])
    );
    // Large messages, in both framings tungstenite uses (64-bit and 16-bit lengths).
    let big: Vec<u8> = (0..3 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    ws.send(Message::binary(big.clone())).await.expect("send");
    assert_eq!(next(&mut ws, WAIT).await, Message::binary(big));
    let text: String = "abcdefghij".repeat(30_000);
    ws.send(Message::text(text.clone())).await.expect("send");
    assert_eq!(next(&mut ws, WAIT).await, Message::text(text));
    // Ping: the backend's pong comes back through.
    ws.send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .expect("ping");
    assert_eq!(
        next(&mut ws, WAIT).await,
        Message::Pong(b"are you there".to_vec().into())
    );
    // The tunnel is a request in flight on its backend.
    let state = backend_state(&proxy, "app", backend.addr()).expect("a");
    assert_eq!(state.in_flight(), 1);
    assert_eq!(state.tunnels_open(), 1);

    // The close handshake goes through both ways.
    ws.close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    }))
    .await
    .expect("close");
    match next(&mut ws, WAIT).await {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Normal),
        other => panic!("expected the backend's Close, got {other:?}"),
    }
    let end = tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("ends in time");
    assert!(end.is_none() || matches!(end, Some(Err(_))), "{end:?}");
    assert_eq!(backend.closes(), [Some((1000, "bye".to_string()))]);
    eventually(WAIT, || async {
        state.in_flight() == 0 && state.tunnels_open() == 0
    })
    .await;

    // The backend got the upgrade with shoal's forwarding headers and the client's path.
    let seen = backend.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].uri, "/chat?room=1");
    assert_eq!(seen[0].header("upgrade"), Some("websocket"));
    assert_eq!(seen[0].header("connection"), Some("upgrade"));
    assert_eq!(seen[0].header("x-forwarded-for"), Some("127.0.0.1"));
    assert!(seen[0].header("x-request-id").is_some());
}

#[tokio::test]
async fn bytes_sent_early_on_either_side_arrive_after_the_101() {
    // A backend that greets in the same write as its 101, then echoes raw bytes.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if stream.read_exact(&mut byte).await.is_err() {
                return;
            }
            head.push(byte[0]);
        }
        // A bogus Content-Length too: a 101 has no body, whatever it says.
        let mut answer = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
            Connection: Upgrade\r\nContent-Length: 7\r\n\
            Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
            .to_vec();
        answer.extend_from_slice(&[0x81, 5]);
        answer.extend_from_slice(b"hello");
        let _ = stream.write_all(&answer).await;
        let mut buf = [0u8; 1024];
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    });
    let proxy = TestProxy::start(&ws_config(&[addr], "round_robin", "", "5s"));
    let mut stream = TcpStream::connect(proxy.addr()).await.expect("connect");
    // The client's first frame goes with its request, before any 101.
    let frame = [0x81, 0x82, 1, 2, 3, 4, b'o' ^ 1, b'k' ^ 2];
    let mut bytes = upgrade_request("/", "").into_bytes();
    bytes.extend_from_slice(&frame);
    stream.write_all(&bytes).await.expect("write");
    let mut want = vec![0x81, 5];
    want.extend_from_slice(b"hello");
    want.extend_from_slice(&frame);
    let mut text = Vec::new();
    let head_end = tokio::time::timeout(WAIT, async {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = text.windows(4).position(|w| w == b"\r\n\r\n") {
                if text.len() >= end + 4 + want.len() {
                    return end + 4;
                }
            }
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&text));
            text.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .expect("the 101 and both frames in time");
    let head = RawResponse::parse(&text[..head_end]).expect("head");
    assert_eq!(head.status, 101);
    assert_eq!(head.header("upgrade"), Some("websocket"));
    assert_eq!(head.header("content-length"), None);
    assert_eq!(
        &text[head_end..],
        &want[..],
        "greeting, then our frame echoed"
    );
}

#[tokio::test]
async fn a_refused_upgrade_leaves_the_connection_in_http() {
    for status in [403u16, 200] {
        let backend = TestWsBackend::refusing("r", status).await;
        let proxy = TestProxy::start(&ws_config(&[backend.addr()], "round_robin", "", "5s"));
        let mut conn = RawConn::connect(proxy.addr()).await;
        // The upgrade and, in the same write, a pipelined request: it must be read as HTTP.
        let mut bytes = upgrade_request("/ws", "").into_bytes();
        bytes.extend_from_slice(b"GET /after HTTP/1.1\r\nHost: a.example\r\n\r\n");
        conn.send(&bytes).await;
        let first = conn.read_response(WAIT).await;
        assert_eq!(first.status, status);
        assert_eq!(first.body, b"upgrade refused by r");
        assert_eq!(first.header("upgrade"), None);
        let second = conn.read_response(WAIT).await;
        assert_eq!(second.status, 200, "the pipelined request was answered");
        assert_eq!(second.body, b"r /after");
        // Bytes that would be a frame in a tunnel are just a bad request head.
        conn.send(&[0x81, 0x82, 1, 2, 3, 4, b'o' ^ 1, b'k' ^ 2, b'\r', b'\n'])
            .await;
        let rest = conn.read_to_close(WAIT).await;
        assert!(rest.closed, "status {status}");
        assert_eq!(rest.responses().first().map(|r| r.status), Some(400));
        let paths: Vec<String> = backend
            .requests()
            .iter()
            .map(|r| r.uri.to_string())
            .collect();
        assert_eq!(paths, ["/ws", "/after"], "status {status}");
        let after = &backend.requests()[1];
        assert_eq!(after.header("upgrade"), None);
        // A real client is refused the same way.
        let request = format!("ws://{}/ws", proxy.addr())
            .into_client_request()
            .expect("request");
        let refused = connect_async(request).await;
        assert!(refused.is_err(), "status {status}: {refused:?}");
    }
}

#[tokio::test]
async fn malformed_upgrades_are_refused_and_other_upgrades_are_plain_requests() {
    let backend = TestWsBackend::echo("a").await;
    let proxy = TestProxy::start(&ws_config(&[backend.addr()], "round_robin", "", "5s"));
    let no_key = upgrade_request("/", "").replace(&format!("Sec-WebSocket-Key: {KEY}\r\n"), "");
    let bad_key = upgrade_request("/", "").replace(KEY, "not-a-key");
    let version = upgrade_request("/", "").replace("Version: 13", "Version: 8");
    let post = upgrade_request("/", "Content-Length: 0\r\n").replace("GET", "POST");
    let body = upgrade_request("/", "Content-Length: 2\r\n") + "hi";
    for (what, request) in [
        ("no key", no_key),
        ("bad key", bad_key),
        ("version 8", version),
        ("POST", post),
        ("body", body),
    ] {
        let mut conn = RawConn::connect(proxy.addr()).await;
        conn.send(request.as_bytes()).await;
        let outcome = conn.read_to_close(WAIT).await;
        outcome.assert_one_then_closed(400, what);
    }
    assert!(backend.requests().is_empty(), "nothing reached the backend");

    // HTTP/1.0 and h2c: not upgrades, and the backend sees no Upgrade.
    for request in [
        upgrade_request("/old", "").replace("HTTP/1.1", "HTTP/1.0"),
        upgrade_request("/h2c", "").replace("Upgrade: websocket", "Upgrade: h2c"),
    ] {
        let mut conn = RawConn::connect(proxy.addr()).await;
        conn.send(request.as_bytes()).await;
        let response = conn.read_response(WAIT).await;
        assert_eq!(response.status, 200, "{request}");
        let seen = backend.requests().pop().expect("recorded");
        assert_eq!(seen.header("upgrade"), None, "{request}");
        assert_eq!(seen.header("connection"), None, "{request}");
    }
    assert_eq!(backend.upgrades(), 0);
}

#[tokio::test]
async fn a_101_switching_to_something_else_is_a_bad_gateway() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n")
                    .await;
            });
        }
    });
    let proxy = TestProxy::start(&ws_config(&[addr], "round_robin", "", "5s"));
    let mut conn = RawConn::connect(proxy.addr()).await;
    conn.send(upgrade_request("/", "").as_bytes()).await;
    assert_eq!(conn.read_response(WAIT).await.status, 502);
    // An unasked 101 to a plain request as well.
    let mut conn = RawConn::connect(proxy.addr()).await;
    conn.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert_eq!(conn.read_response(WAIT).await.status, 502);
}

#[tokio::test]
async fn a_failed_connect_moves_on_but_a_sent_upgrade_is_not_sent_again() {
    // Nothing sent: the upgrade goes to the next backend.
    let refusing = Refusing::new();
    let good = TestWsBackend::echo("good").await;
    let one_worker = |text: String| text.replace("workers = 2", "workers = 1");
    let proxy = TestProxy::start(&one_worker(ws_config(
        &[refusing.addr(), good.addr()],
        "round_robin",
        "",
        "5s",
    )));
    for i in 0..4 {
        let (_, name) = connect(proxy.addr(), "/", &[]).await;
        assert_eq!(name, "good", "upgrade {i}");
    }

    // Sent, then the backend hangs up without an answer: 502, never sent elsewhere.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let silent = listener.local_addr().expect("addr");
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&hits);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            if matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
    });
    let other = TestWsBackend::echo("other").await;
    let proxy = TestProxy::start(&one_worker(ws_config(
        &[silent, other.addr()],
        "round_robin",
        "",
        "5s",
    )));
    let mut bad_gateways = 0;
    for _ in 0..4 {
        let mut conn = RawConn::connect(proxy.addr()).await;
        conn.send(upgrade_request("/", "").as_bytes()).await;
        match conn.read_response(WAIT).await.status {
            502 => bad_gateways += 1,
            status => assert_eq!(status, 101),
        }
    }
    assert!(
        bad_gateways >= 1,
        "round robin never picked the silent backend"
    );
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), bad_gateways);
    assert_eq!(
        other.upgrades(),
        4 - bad_gateways as u64,
        "a sent upgrade was retried"
    );
}

#[tokio::test]
async fn an_idle_tunnel_is_closed_and_traffic_keeps_one_open() {
    let backend = TestWsBackend::echo("a").await;
    let idle = Duration::from_millis(400);
    let proxy = TestProxy::start(&ws_config(
        &[backend.addr()],
        "round_robin",
        "ws_idle_timeout = \"400ms\"",
        "5s",
    ));
    let (mut ws, _) = connect(proxy.addr(), "/", &[]).await;
    // Pings every 100 ms for 3 idle periods: it stays open.
    for i in 0..12u8 {
        ws.send(Message::Ping(vec![i].into())).await.expect("ping");
        assert_eq!(next(&mut ws, WAIT).await, Message::Pong(vec![i].into()));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let quiet_from = Instant::now();
    let (closed_at, code) = await_close(ws, WAIT).await;
    assert_eq!(code, Some(CloseCode::Away));
    let quiet = closed_at - quiet_from;
    assert!(
        quiet >= idle - Duration::from_millis(150) && quiet < idle + Duration::from_secs(2),
        "closed after {quiet:?} of quiet"
    );
    // The backend was told too, with the same code.
    eventually(WAIT, || async { !backend.closes().is_empty() }).await;
    assert_eq!(backend.closes()[0].as_ref().map(|c| c.0), Some(1001));
    let state = backend_state(&proxy, "app", backend.addr()).expect("a");
    eventually(WAIT, || async { state.in_flight() == 0 }).await;
    assert_eq!(
        state.tunnels_closed_by_drain(),
        0,
        "an idle close is no drain"
    );
}

#[tokio::test]
async fn a_tunnel_counts_in_flight_for_least_conn() {
    let a = TestWsBackend::echo("a").await;
    let b = TestWsBackend::echo("b").await;
    let proxy = TestProxy::start(&ws_config(&[a.addr(), b.addr()], "least_conn", "", "5s"));
    let (mut ws, holder) = connect(proxy.addr(), "/", &[]).await;
    let other = if holder == "a" { "b" } else { "a" };
    let client = shoal_test_support::TestClient::http1();
    for i in 0..10 {
        let response = client
            .get(&proxy.url(&format!("/plain{i}")))
            .await
            .expect("request");
        assert_eq!(response.status, 200);
        assert_eq!(
            response.header("x-backend"),
            Some(other),
            "request {i}: {holder} has the tunnel in flight"
        );
    }
    ws.send(Message::text("still here")).await.expect("send");
    assert_eq!(next(&mut ws, WAIT).await, Message::text("still here"));
    drop(ws);
    let holder_addr = if holder == "a" { a.addr() } else { b.addr() };
    let state = backend_state(&proxy, "app", holder_addr).expect("holder");
    eventually(WAIT, || async { state.in_flight() == 0 }).await;
}

#[tokio::test]
async fn upgrades_stick_to_a_backend_by_hash_key_until_it_drains() {
    let backends = [
        TestWsBackend::echo("a").await,
        TestWsBackend::echo("b").await,
        TestWsBackend::echo("c").await,
    ];
    let addrs: Vec<SocketAddr> = backends.iter().map(TestWsBackend::addr).collect();
    let proxy = TestProxy::start(&ws_config(
        &addrs,
        "maglev",
        "hash_key = \"cookie:user_id\"",
        "5s",
    ));
    let users: Vec<String> = (0..24).map(|i| format!("user-{i}")).collect();
    let land = |user: &str| {
        let cookie = format!("theme=dark; user_id={user}");
        let addr = proxy.addr();
        async move {
            let (ws, backend) = connect(addr, "/live", &[("cookie", &cookie)]).await;
            drop(ws);
            backend
        }
    };
    let mut first = Vec::new();
    for user in &users {
        first.push(land(user).await);
    }
    // Reconnects land where the first connection did.
    for _ in 0..2 {
        for (user, before) in users.iter().zip(&first) {
            assert_eq!(&land(user).await, before, "{user} moved");
        }
    }
    let used: std::collections::BTreeSet<&String> = first.iter().collect();
    assert!(used.len() >= 2, "24 users all on one backend: {first:?}");

    // Drain one of the backends in use: its users go elsewhere, the others stay.
    let drained = (*used.iter().next().expect("one")).clone();
    let drained_addr = backends
        .iter()
        .find(|b| b.name() == drained)
        .expect("named")
        .addr();
    proxy
        .proxy()
        .health()
        .operate("app", drained_addr, Operation::Drain)
        .await
        .expect("drained");
    for (user, before) in users.iter().zip(&first) {
        let now = land(user).await;
        if *before == drained {
            assert_ne!(now, drained, "{user} still sent to the drained backend");
        } else {
            assert_eq!(&now, before, "{user} moved though its backend is ready");
        }
    }
}
