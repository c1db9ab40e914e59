//! TCP (L4) listeners: bytes relayed exactly, half-close carried both ways, connect
//! failover, idle timeout, max_connections.

use std::net::SocketAddr;
use std::time::Duration;

use shoal_test_support::{eventually, TestProxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::Refusing;

const WAIT: Duration = Duration::from_secs(5);

/// A backend that echoes bytes as they come (for large transfers).
async fn echo_backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = stream.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });
    addr
}

/// A backend that reads until the client's half-close, then answers how much it got.
async fn counting_backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut all = Vec::new();
                if stream.read_to_end(&mut all).await.is_ok() {
                    let _ = stream
                        .write_all(format!("got {} bytes", all.len()).as_bytes())
                        .await;
                    let _ = stream.shutdown().await;
                }
            });
        }
    });
    addr
}

fn tcp_config(backends: &[SocketAddr], listener_extra: &str) -> String {
    let list: Vec<String> = backends.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        "[server]\nworkers = 2\ngrace_period = \"1s\"\n\n\
         [listeners.db]\nbind = \"127.0.0.1:0\"\nprotocol = \"tcp\"\nupstream = \"app\"\n{listener_extra}\n\n\
         [upstreams.app]\nbackends = [{}]\nconnect_timeout = \"500ms\"\n",
        list.join(", ")
    )
}

async fn read_all(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut out))
        .await
        .expect("the relay ends in time")
        .expect("read");
    out
}

#[tokio::test]
async fn a_large_transfer_arrives_byte_for_byte() {
    let proxy = TestProxy::start(&tcp_config(&[echo_backend().await], ""));
    let data: Vec<u8> = (0..4 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let stream = TcpStream::connect(proxy.listener("db"))
        .await
        .expect("connect");
    let (mut r, mut w) = stream.into_split();
    let sent = data.clone();
    let writer = tokio::spawn(async move {
        w.write_all(&sent).await.expect("write");
        w.shutdown().await.expect("half-close");
    });
    let mut back = Vec::new();
    tokio::time::timeout(WAIT, r.read_to_end(&mut back))
        .await
        .expect("echoed in time")
        .expect("read");
    writer.await.expect("writer");
    assert_eq!(back.len(), data.len());
    assert!(back == data, "the echoed bytes differ");
}

#[tokio::test]
async fn a_half_close_travels_and_the_answer_still_comes_back() {
    let proxy = TestProxy::start(&tcp_config(&[counting_backend().await], ""));
    let mut stream = TcpStream::connect(proxy.listener("db"))
        .await
        .expect("connect");
    stream.write_all(b"hello").await.expect("write");
    stream.shutdown().await.expect("half-close");
    assert_eq!(read_all(&mut stream).await, b"got 5 bytes");
}

#[tokio::test]
async fn a_refused_backend_is_passed_over() {
    let refusing = Refusing::new();
    let good = counting_backend().await;
    let proxy = TestProxy::start(&tcp_config(&[refusing.addr(), good], ""));
    for i in 0..10 {
        let mut stream = TcpStream::connect(proxy.listener("db"))
            .await
            .expect("connect");
        stream.write_all(b"abc").await.expect("write");
        stream.shutdown().await.expect("half-close");
        assert_eq!(
            read_all(&mut stream).await,
            b"got 3 bytes",
            "connection {i}"
        );
    }
}

#[tokio::test]
async fn an_idle_relay_is_closed() {
    let proxy = TestProxy::start(&tcp_config(
        &[echo_backend().await],
        "idle_timeout = \"300ms\"",
    ));
    let mut stream = TcpStream::connect(proxy.listener("db"))
        .await
        .expect("connect");
    stream.write_all(b"ping").await.expect("write");
    let mut four = [0u8; 4];
    stream.read_exact(&mut four).await.expect("echo");
    assert_eq!(&four, b"ping");
    let started = std::time::Instant::now();
    // Nothing more is sent: the relay closes after the idle timeout.
    let rest = read_all(&mut stream).await;
    assert!(rest.is_empty());
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "closed after {:?}, before the idle timeout",
        started.elapsed()
    );
}

#[tokio::test]
async fn max_connections_refuses_the_one_too_many() {
    let proxy = TestProxy::start(&tcp_config(&[echo_backend().await], "max_connections = 1"));
    let addr = proxy.listener("db");
    let mut first = TcpStream::connect(addr).await.expect("connect");
    first.write_all(b"one").await.expect("write");
    let mut three = [0u8; 3];
    first.read_exact(&mut three).await.expect("echo");

    // The second is accepted by the kernel, then reset by shoal without a byte relayed (the
    // reset may even beat the end of the handshake).
    if let Ok(mut second) = TcpStream::connect(addr).await {
        let _ = second.write_all(b"two").await;
        let mut buf = Vec::new();
        let read = tokio::time::timeout(WAIT, second.read_to_end(&mut buf))
            .await
            .expect("closed in time");
        assert!(
            read.is_err() || buf.is_empty(),
            "the second connection was relayed: {buf:?}"
        );
    }

    // Once the first is gone, a new one is served.
    drop(first);
    eventually(WAIT, || async {
        let Ok(mut third) = TcpStream::connect(addr).await else {
            return false;
        };
        if third.write_all(b"3").await.is_err() {
            return false;
        }
        let mut one = [0u8; 1];
        matches!(
            tokio::time::timeout(Duration::from_millis(500), third.read_exact(&mut one)).await,
            Ok(Ok(_))
        )
    })
    .await;
}

/// A backend that reads everything, then answers with exactly what it received.
async fn recording_backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut all = Vec::new();
                if stream.read_to_end(&mut all).await.is_ok() {
                    let _ = stream.write_all(&all).await;
                    let _ = stream.shutdown().await;
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn the_backend_gets_a_proxy_protocol_header_first() {
    for (version, v2) in [("v1", false), ("v2", true)] {
        let proxy = TestProxy::start(&tcp_config(
            &[recording_backend().await],
            &format!("proxy_protocol = \"{version}\""),
        ));
        let listener = proxy.listener("db");
        let mut stream = TcpStream::connect(listener).await.expect("connect");
        let client = stream.local_addr().expect("local");
        stream.write_all(b"payload").await.expect("write");
        stream.shutdown().await.expect("half-close");
        let seen = read_all(&mut stream).await;
        let mut want = if v2 {
            let mut h = vec![
                0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x21, 0x11,
                0x00, 0x0C, 127, 0, 0, 1, 127, 0, 0, 1,
            ];
            h.extend_from_slice(&client.port().to_be_bytes());
            h.extend_from_slice(&listener.port().to_be_bytes());
            h
        } else {
            format!(
                "PROXY TCP4 127.0.0.1 127.0.0.1 {} {}\r\n",
                client.port(),
                listener.port()
            )
            .into_bytes()
        };
        want.extend_from_slice(b"payload");
        assert_eq!(seen, want, "{version}");
    }
}
