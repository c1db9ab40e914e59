//! Clients that stop sending their body or stop reading their answer.

use super::*;

// ----- 10. A client that does not take its answer -----

/// The listener's `idle_timeout` in the tests below: also the longest a response write may
/// wait for a client that takes no bytes.
const IDLE: Duration = Duration::from_millis(300);

/// A body with a pattern, so that a lost, repeated or reordered piece shows.
fn patterned(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Listener `web` with `idle_timeout = IDLE`, everything to `backend`.
fn proxy_with_idle_timeout(backend: &TestBackend) -> TestProxy {
    TestProxy::start(&config(
        1,
        &format!("idle_timeout = \"{}ms\"", IDLE.as_millis()),
        &format!(
            "{}{}",
            route("", "upstream = \"app\"", ""),
            upstream("app", "round_robin", &[backend], "")
        ),
    ))
}

/// Client connections open on the `web` listener now.
fn open_connections(proxy: &TestProxy) -> usize {
    proxy
        .proxy()
        .connection_counts()
        .into_iter()
        .find(|(name, _)| name == "web")
        .map_or(0, |(_, n)| n)
}

/// A client connection with a fixed receive buffer (setting it turns the kernel's
/// autotuning off): what the proxy can push ahead of a client's reading is then its own
/// send buffer plus this, whatever the host's limits let a buffer grow to.
async fn fixed_window_client(addr: SocketAddr) -> Wire {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(256 * 1024).expect("SO_RCVBUF");
    let stream = socket
        .connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream.set_nodelay(true).expect("nodelay");
    Wire {
        stream,
        buf: Vec::new(),
    }
}

/// Where two byte strings first differ, within the shorter one's length.
fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    a.iter().zip(b).position(|(x, y)| x != y)
}

#[tokio::test]
async fn client_that_stops_reading_a_large_answer_is_closed_after_idle_timeout() {
    // Far more than socket buffers hold (the proxy's send buffer is at most a few MiB, the
    // client's receive buffer is fixed at 256 KiB): the proxy's writes must stall.
    const LEN: usize = 16 << 20;
    let body = patterned(LEN);
    let backend = TestBackend::http().name("big").body(body.clone()).await;
    let proxy = proxy_with_idle_timeout(&backend);
    let mut wire = fixed_window_client(proxy.addr()).await;
    let request = get_req("/big");
    wire.send(request.as_bytes()).await;
    let sent_at = Instant::now();

    // The proxy has the whole request; from here only the client not reading holds the
    // answer up. The connection is open (it cannot be given up before IDLE).
    until_read(&proxy, request.len() as u64).await;
    assert_eq!(
        open_connections(&proxy),
        1,
        "the connection is open while its answer is written"
    );

    // The client takes nothing: the proxy gives the connection up on its own.
    eventually(WAIT, || async { open_connections(&proxy) == 0 }).await;
    let closed_after = sent_at.elapsed();
    assert!(
        closed_after >= IDLE,
        "given up after {closed_after:?}, before idle_timeout ({IDLE:?})"
    );
    assert!(
        closed_after < Duration::from_millis(2500),
        "given up only after {closed_after:?} (idle_timeout {IDLE:?})"
    );
    let written = bytes_written(&proxy);
    assert!(
        written < LEN as u64,
        "the proxy wrote {written} bytes, the whole answer: the close was not a send timeout \
         (the body fit in the socket buffers; make it larger)"
    );
    // The backend side is let go with it: its in-flight mark is gone (it is only dropped
    // with the unfinished response body; the answer cannot have ended normally).
    eventually(WAIT, || async {
        backend_state(&proxy, "app", backend.addr()).map(|b| b.in_flight()) == Some(0)
    })
    .await;

    // Reading now: the head, the part of the body that was written, then the end — well
    // short of the announced length.
    let head = wire.head().await;
    assert_eq!(head.status, 200, "{:?}", head.text);
    assert_eq!(
        head.header("content-length"),
        Some(LEN.to_string().as_str()),
        "{:?}",
        head.text
    );
    let got = wire.until_close().await;
    assert!(
        got.len() < LEN,
        "the whole body arrived ({} bytes) although the proxy gave the connection up",
        got.len()
    );
    assert!(
        got == body[..got.len()],
        "what arrived is not the start of the body: it differs from byte {:?}",
        first_difference(&got, &body)
    );
    assert_eq!(backend.hits(), 1);
}

#[tokio::test]
async fn client_reading_a_large_answer_slowly_but_steadily_gets_all_of_it() {
    const LEN: usize = 16 << 20;
    // Bytes per second the client takes at most: the answer takes LEN / RATE = 800 ms,
    // well over idle_timeout, yet some bytes go every few milliseconds.
    const RATE: f64 = 20.0 * 1024.0 * 1024.0;
    let body = patterned(LEN);
    let backend = TestBackend::http().name("big").body(body.clone()).await;
    let proxy = proxy_with_idle_timeout(&backend);
    let mut wire = fixed_window_client(proxy.addr()).await;
    // A HEAD pipelined behind the GET shows the connection going on afterwards. (Sent
    // later, it could find the connection closed by the keep-alive idle_timeout, whose clock
    // starts once the answer is all in the socket buffers, while the client is still
    // reading the last few MiB.)
    wire.send(
        format!(
            "{}HEAD /again HTTP/1.1\r\nHost: a.example\r\n\r\n",
            get_req("/big")
        )
        .as_bytes(),
    )
    .await;
    let head = wire.head().await;
    assert_eq!(head.status, 200, "{:?}", head.text);
    assert_eq!(
        head.header("content-length"),
        Some(LEN.to_string().as_str()),
        "{:?}",
        head.text
    );
    assert_eq!(head.header("connection"), None, "{:?}", head.text);

    let started = Instant::now();
    let mut got = std::mem::take(&mut wire.buf);
    let mut chunk = vec![0u8; 16 * 1024];
    while got.len() < LEN {
        // Small reads, never ahead of RATE. The pause only makes this client slow: nothing
        // waits on it, and a reader that falls behind (a busy host) reads on at once.
        let due = started + Duration::from_secs_f64(got.len() as f64 / RATE);
        tokio::time::sleep_until(due.into()).await;
        match tokio::time::timeout(WAIT, wire.stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => panic!(
                "a steady reader was cut off: the connection ended after {} of {LEN} body \
                 bytes, {:?} into the body (idle_timeout {IDLE:?})",
                got.len(),
                started.elapsed()
            ),
            Ok(Ok(n)) => got.extend_from_slice(&chunk[..n]),
            Err(_) => panic!(
                "nothing within {WAIT:?} after {} of {LEN} body bytes",
                got.len()
            ),
        }
    }
    let took = started.elapsed();
    // Paced, the last read came at least this late: the answer outlasted idle_timeout
    // twice over, so a clock on the whole answer (not on progress) would have cut it.
    assert!(
        took >= 2 * IDLE,
        "the body took only {took:?}: the test needs it slower than 2 × {IDLE:?}"
    );
    // Bytes past the body belong to the HEAD's answer.
    wire.buf = got.split_off(LEN);
    assert!(
        got == body,
        "the body differs from the backend's from byte {:?}",
        first_difference(&got, &body)
    );

    // The connection goes on: the pipelined HEAD is answered.
    let head = wire.head().await;
    assert_eq!(head.status, 200, "the connection goes on: {:?}", head.text);
    assert_eq!(
        head.header("content-length"),
        Some(LEN.to_string().as_str()),
        "{:?}",
        head.text
    );
    assert_eq!(backend.hits(), 2);
}

/// A client that stops sending the body it announced gets 408 after `idle_timeout` with no
/// body byte, and the connection closes; the backend, which had the head, never receives a
/// whole request.
#[tokio::test]
async fn a_request_body_that_stops_coming_gets_408_after_idle_timeout() {
    let backend = TestBackend::http().name("b").await;
    let proxy = proxy_with_idle_timeout(&backend);
    let mut wire = Wire::connect(proxy.addr()).await;
    let mut request =
        b"POST /upload HTTP/1.1\r\nHost: a.example\r\nContent-Length: 100\r\n\r\n".to_vec();
    request.extend_from_slice(&[b'x'; 10]);
    let started = std::time::Instant::now();
    wire.send(&request).await;
    let (head, body) = wire.response().await;
    let waited = started.elapsed();
    assert_eq!(head.status, 408, "{:?}", head.text);
    assert!(
        String::from_utf8_lossy(&body).contains("request body"),
        "the cause is named: {:?}",
        String::from_utf8_lossy(&body)
    );
    assert!(
        waited >= IDLE,
        "answered after {waited:?}, before idle_timeout ({IDLE:?})"
    );
    assert_eq!(head.header("connection"), Some("close"), "{:?}", head.text);
    wire.assert_closed("the body never completed").await;
    assert_eq!(backend.hits(), 0, "no whole request reached the backend");
}

/// `response_timeout` counts from the last body bytes sent, not from the request's start: a
/// client uploading slowly (each piece well within its idle timeout) past the response
/// timeout is served, and the backend is not blamed for it.
#[tokio::test]
async fn a_slow_upload_longer_than_response_timeout_is_served() {
    const RESPONSE_TIMEOUT: Duration = Duration::from_millis(400);
    const PIECES: usize = 4;
    let backend = TestBackend::http().name("b").await;
    let proxy = TestProxy::start(&config(
        1,
        "",
        &format!(
            "{}{}",
            route("", "upstream = \"app\"", ""),
            upstream(
                "app",
                "round_robin",
                &[&backend],
                &format!("response_timeout = \"{}ms\"", RESPONSE_TIMEOUT.as_millis()),
            )
        ),
    ));
    let mut wire = Wire::connect(proxy.addr()).await;
    let piece = [b'u'; 1000];
    wire.send(
        format!(
            "POST /upload HTTP/1.1\r\nHost: a.example\r\nContent-Length: {}\r\n\r\n",
            PIECES * piece.len()
        )
        .as_bytes(),
    )
    .await;
    let started = std::time::Instant::now();
    for _ in 0..PIECES {
        // Paces the client (a slow uploader), it does not synchronise anything: each piece
        // comes 200 ms after the last, so the whole body takes 800 ms, twice the timeout.
        tokio::time::sleep(RESPONSE_TIMEOUT / 2).await;
        wire.send(&piece).await;
    }
    let (head, _) = wire.response().await;
    assert!(
        started.elapsed() > RESPONSE_TIMEOUT,
        "the upload outlasted response_timeout"
    );
    assert_eq!(head.status, 200, "{:?}", head.text);
    let seen = backend.last_request().expect("the backend got the request");
    assert_eq!(
        seen.body.len(),
        PIECES * piece.len(),
        "the whole body arrived"
    );
}
