//! WebSocket tunnels in the listener's byte counters.

use super::*;

// ----- 11. WebSocket tunnels in the listener's byte counters -----

/// The bytes of one WebSocket frame carrying `payload` bytes (RFC 6455 §5.2): 2, then a
/// 16- or 64-bit extended length for payloads over 125 or 65 535 bytes, then a 4-byte mask
/// on frames from a client.
fn ws_frame_len(payload: usize, from_client: bool) -> u64 {
    let length = match payload {
        0..=125 => 0,
        126..=65_535 => 2,
        _ => 8,
    };
    let mask = if from_client { 4 } else { 0 };
    (2 + length + mask + payload) as u64
}

/// Opens a WebSocket through `proxy` with the handshake done by hand, so that its bytes are
/// known exactly: the stream, and the sizes of the upgrade request and of the 101 head. (The
/// counters cannot be read as a baseline once the 101 has arrived: the proxy counts its
/// write as the call returns, which can be just after the client has the bytes.)
async fn ws_by_hand(proxy: SocketAddr, path: &str) -> (Ws, u64, u64) {
    let mut stream = TcpStream::connect(proxy)
        .await
        .unwrap_or_else(|e| panic!("connect {proxy}: {e}"));
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: a.example\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .expect("write the upgrade request");
    // Byte by byte: nothing after the head may be taken from the socket here.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match tokio::time::timeout(WAIT, stream.read(&mut byte)).await {
            Ok(Ok(1)) => head.push(byte[0]),
            other => panic!(
                "no whole 101 head ({other:?}): {:?}",
                String::from_utf8_lossy(&head)
            ),
        }
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101 "),
        "{:?}",
        String::from_utf8_lossy(&head)
    );
    let ws =
        WebSocketStream::from_raw_socket(MaybeTlsStream::Plain(stream), Role::Client, None).await;
    (ws, request.len() as u64, head.len() as u64)
}

/// The `web` listener's counts (read from clients, written to them) once together they
/// have reached `total`. Each count is made as its socket call returns, so it can land just
/// after the peer has the bytes; waiting on the sum lets a count put in the wrong direction
/// (or made twice) show in the asserts after it.
async fn counted(proxy: &TestProxy, total: u64) -> (u64, u64) {
    eventually(WAIT, || async {
        bytes_read(proxy) + bytes_written(proxy) >= total
    })
    .await;
    (bytes_read(proxy), bytes_written(proxy))
}

#[tokio::test]
async fn websocket_tunnel_bytes_are_counted_by_the_listener() {
    let backend = TestWsBackend::echo("ws").await;
    let proxy = TestProxy::start(&ws_config(&[backend.addr()], "round_robin", "", "5s"));
    let (mut ws, request, answer) = ws_by_hand(proxy.addr(), "/chat").await;

    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    // Each length framing: 7-bit, 16-bit and 64-bit lengths.
    let messages = [
        Message::text("hello"),
        Message::binary(vec![7u8; 300]),
        Message::binary(big),
        Message::text("abcdefghij".repeat(7_000)),
    ];
    let (mut payload, mut up, mut down) = (0u64, 0u64, 0u64);
    for message in &messages {
        ws.send(message.clone()).await.expect("send");
        assert_eq!(&next(&mut ws, WAIT).await, message, "echoed");
        payload += message.len() as u64;
        up += ws_frame_len(message.len(), true);
        down += ws_frame_len(message.len(), false);
    }

    // This listener has had this one connection: its handshake, then the tunnel.
    let (read, written) = counted(&proxy, request + answer + up + down).await;
    let (read, written) = (read - request, written - answer);
    assert!(
        read >= payload && written >= payload,
        "{payload} bytes of messages went each way after the upgrade; counted: {read} read \
         from the client, {written} written to it"
    );
    assert_eq!(
        read,
        up,
        "bytes read from the client after the upgrade: its {} frames",
        messages.len()
    );
    assert_eq!(
        written,
        down,
        "bytes written to the client after the upgrade: the {} echoes",
        messages.len()
    );
    ws.close(None).await.expect("close");
}

/// A WebSocket backend that answers each binary message of `n` bytes with one of `4 n`, so
/// that the two directions of a tunnel carry different amounts.
async fn amplifying_ws_backend() -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                while let Some(Ok(message)) = ws.next().await {
                    if let Message::Binary(data) = message {
                        let answer = Message::binary(vec![b'a'; data.len() * 4]);
                        if ws.send(answer).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (addr, task)
}

#[tokio::test]
async fn websocket_bytes_are_counted_in_their_own_direction() {
    let (addr, task) = amplifying_ws_backend().await;
    let proxy = TestProxy::start(&ws_config(&[addr], "round_robin", "", "5s"));
    let (mut ws, request, answer) = ws_by_hand(proxy.addr(), "/amplify").await;

    const UP: usize = 50_000;
    ws.send(Message::binary(vec![b'u'; UP]))
        .await
        .expect("send");
    match next(&mut ws, WAIT).await {
        Message::Binary(data) => assert_eq!(data.len(), 4 * UP, "the backend's answer"),
        other => panic!("not the backend's binary answer: {other:?}"),
    }
    let (up, down) = (ws_frame_len(UP, true), ws_frame_len(4 * UP, false));
    let (read, written) = counted(&proxy, request + answer + up + down).await;
    assert_eq!(
        (read - request, written - answer),
        (up, down),
        "(read from the client, written to it) after the upgrade: one {UP}-byte message up, \
         one of {} bytes down",
        4 * UP
    );
    task.abort();
}

#[tokio::test]
async fn websocket_bytes_sent_along_with_the_handshake_are_counted_once() {
    // A backend that greets in the same write as its 101, then echoes raw bytes.
    const GREETING: [u8; 7] = [0x81, 5, b'h', b'e', b'l', b'l', b'o'];
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let backend = tokio::spawn(async move {
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
        let mut answer = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
            Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
            .to_vec();
        answer.extend_from_slice(&GREETING);
        let _ = stream.write_all(&answer).await;
        let mut buf = [0u8; 1024];
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    });
    let proxy = TestProxy::start(&ws_config(&[addr], "round_robin", "", "5s"));
    let mut wire = Wire::connect(proxy.addr()).await;
    // The client's first frame goes with its upgrade request: the server reads it with the
    // head, before there is a tunnel, and hands it to the tunnel unread.
    let frame = [0x82, 0x82, 1, 2, 3, 4, b'o' ^ 1, b'k' ^ 2];
    let request = "GET /early HTTP/1.1\r\nHost: a.example\r\nConnection: Upgrade\r\n\
        Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n";
    let mut bytes = request.as_bytes().to_vec();
    bytes.extend_from_slice(&frame);
    wire.send(&bytes).await;
    let head = wire.head().await;
    assert_eq!(head.status, 101, "{:?}", head.text);
    let after = wire
        .take(GREETING.len() + frame.len(), "greeting and echo")
        .await;
    assert_eq!(after[..GREETING.len()], GREETING, "the greeting first");
    assert_eq!(after[GREETING.len()..], frame, "then our frame echoed");

    let want_read = (request.len() + frame.len()) as u64;
    let want_written = (head.text.len() + GREETING.len() + frame.len()) as u64;
    let (read, written) = counted(&proxy, want_read + want_written).await;
    assert_eq!(
        (read, written),
        (want_read, want_written),
        "(read from the client, written to it): the upgrade request and the frame sent with \
         it, each once; the 101, the greeting the backend sent with it, and the echo"
    );
    backend.abort();
}
