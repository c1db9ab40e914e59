//! L4 preambles: PROXY headers accepted from trusted balancers and refused from anyone else
//! (`accept_proxy_protocol`), and tls_passthrough listeners routing TLS by its server name
//! without terminating it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use shoal_test_support::{eventually, TestCa, TestProxy, TlsFront};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const WAIT: Duration = Duration::from_secs(5);

/// What a recording backend saw on each connection, in accept order, and whether that
/// connection has ended.
type Seen = Arc<Mutex<Vec<(Vec<u8>, bool)>>>;

/// A backend that records every byte of each connection (until EOF or reset), answering
/// with what it got once the client half-closes. `greeting` is sent first, before reading
/// (a server-first protocol).
async fn recording_backend(greeting: &'static [u8]) -> (SocketAddr, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen: Seen = Arc::default();
    let record = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let index = {
                let mut all = record.lock().expect("lock");
                all.push((Vec::new(), false));
                all.len() - 1
            };
            let record = Arc::clone(&record);
            tokio::spawn(async move {
                let _ = stream.write_all(greeting).await;
                let mut buf = [0u8; 4096];
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => record.lock().expect("lock")[index]
                            .0
                            .extend_from_slice(&buf[..n]),
                    }
                }
                let got = {
                    let mut all = record.lock().expect("lock");
                    all[index].1 = true;
                    all[index].0.clone()
                };
                let _ = stream.write_all(&got).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (addr, seen)
}

fn tcp_config(backend: SocketAddr, listener_extra: &str) -> String {
    format!(
        "[server]\nworkers = 1\ngrace_period = \"1s\"\n\n\
         [listeners.db]\nbind = \"127.0.0.1:0\"\nprotocol = \"tcp\"\nupstream = \"app\"\n{listener_extra}\n\n\
         [upstreams.app]\nbackends = [\"{backend}\"]\n"
    )
}

/// Sends `bytes`, half-closes, reads to the end. Err when the proxy reset the connection.
async fn exchange(addr: SocketAddr, bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(bytes).await?;
    stream.shutdown().await?;
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut out))
        .await
        .expect("the connection ends in time")?;
    Ok(out)
}

fn v2_header(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let (SocketAddr::V4(src), SocketAddr::V4(dst)) = (src, dst) else {
        panic!("ipv4 only here");
    };
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.extend_from_slice(&[0x21, 0x11, 0x00, 0x0C]);
    h.extend_from_slice(&src.ip().octets());
    h.extend_from_slice(&dst.ip().octets());
    h.extend_from_slice(&src.port().to_be_bytes());
    h.extend_from_slice(&dst.port().to_be_bytes());
    h
}

#[tokio::test]
async fn a_trusted_balancer_names_the_client_and_the_backend_hears_of_it() {
    let (backend, seen) = recording_backend(b"").await;
    let proxy = TestProxy::start(&tcp_config(
        backend,
        "accept_proxy_protocol = { trusted = [\"127.0.0.0/8\"] }\nproxy_protocol = \"v1\"",
    ));
    let listener = proxy.listener("db");
    let client: SocketAddr = "203.0.113.9:5555".parse().expect("addr");
    for inbound in [
        b"PROXY TCP4 203.0.113.9 10.1.1.1 5555 6380\r\n".to_vec(),
        v2_header(client, "10.1.1.1:6380".parse().expect("addr")),
    ] {
        let mut request = inbound;
        request.extend_from_slice(b"payload");
        let echoed = exchange(listener, &request).await.expect("relayed");
        // The inbound header is consumed; the outbound one names the original client.
        let want = format!(
            "PROXY TCP4 203.0.113.9 127.0.0.1 5555 {}\r\npayload",
            listener.port()
        );
        assert_eq!(String::from_utf8_lossy(&echoed), want);
    }
    assert_eq!(seen.lock().expect("lock").len(), 2);
}

#[tokio::test]
async fn a_trusted_peer_without_a_header_is_refused() {
    let (backend, seen) = recording_backend(b"").await;
    let proxy = TestProxy::start(&tcp_config(
        backend,
        "accept_proxy_protocol = { trusted = [\"127.0.0.1\"] }",
    ));
    let answer = exchange(proxy.listener("db"), b"GET / HTTP/1.1\r\n\r\n").await;
    assert!(
        answer.as_ref().map_or(true, |bytes| bytes.is_empty()),
        "closed without an answer: {answer:?}"
    );
    assert!(
        seen.lock().expect("lock").is_empty(),
        "no backend connection"
    );
}

#[tokio::test]
async fn a_proxy_header_from_an_untrusted_peer_is_refused_and_never_reaches_the_backend() {
    let (backend, seen) = recording_backend(b"").await;
    let proxy = TestProxy::start(&tcp_config(
        backend,
        "accept_proxy_protocol = { trusted = [\"10.0.0.0/8\"] }",
    ));
    let listener = proxy.listener("db");
    let forged = b"PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r\nSET admin 1\r\n";
    let answer = exchange(listener, forged).await;
    assert!(
        answer.as_ref().map_or(true, |bytes| bytes.is_empty()),
        "refused: {answer:?}"
    );
    let forged_v2 = v2_header(
        "10.0.0.1:1".parse().expect("addr"),
        "10.0.0.2:2".parse().expect("addr"),
    );
    let answer = exchange(listener, &forged_v2).await;
    assert!(answer.as_ref().map_or(true, |b| b.is_empty()), "{answer:?}");
    // The relay may have connected (an untrusted peer's bytes are checked as they pass),
    // but not one byte of a forged header went through.
    eventually(WAIT, || {
        let ended = seen.lock().expect("lock").iter().all(|(_, ended)| *ended);
        async move { ended }
    })
    .await;
    let all = seen.lock().expect("lock").clone();
    assert!(all.iter().all(|(bytes, _)| bytes.is_empty()), "{all:?}");

    // Ordinary traffic from the same untrusted peer passes untouched, even when it starts
    // with the same letters as a v1 header.
    assert_eq!(
        exchange(listener, b"PROXIMA centauri")
            .await
            .expect("relayed"),
        b"PROXIMA centauri"
    );
}

#[tokio::test]
async fn an_untrusted_peer_of_a_server_first_protocol_is_not_kept_waiting() {
    let (backend, _seen) = recording_backend(b"220 ready\r\n").await;
    let proxy = TestProxy::start(&tcp_config(
        backend,
        "accept_proxy_protocol = { trusted = [\"10.0.0.0/8\"] }",
    ));
    let mut stream = TcpStream::connect(proxy.listener("db"))
        .await
        .expect("connect");
    let mut greeting = [0u8; 11];
    tokio::time::timeout(WAIT, stream.read_exact(&mut greeting))
        .await
        .expect("the greeting arrives before the client speaks")
        .expect("read");
    assert_eq!(&greeting, b"220 ready\r\n");
}

// ---- tls_passthrough ----

/// A TLS backend (a [`TlsFront`] with a certificate for `names`) that, after the handshake,
/// writes `name` and closes.
async fn tls_backend(name: &'static str, ca: &TestCa, names: &[&str]) -> TlsFront {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let plain = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = stream.write_all(name.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    TlsFront::in_front_of(plain, &ca.issue(names)).await
}

/// Connects through `addr` asking for `server_name`; the backend's name, or the TLS error.
async fn tls_hello(addr: SocketAddr, ca: &TestCa, server_name: &str) -> Result<String, String> {
    let config = crate::tls::client_config(ca, &[], crate::tls::BOTH, None);
    // `connect` bounds the handshake in time.
    let mut tls = crate::tls::connect(addr, server_name, config)
        .await
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    tls.read_to_string(&mut out)
        .await
        .map_err(|e| e.to_string())?;
    Ok(out)
}

fn passthrough_config(
    sni: &str,
    default: Option<SocketAddr>,
    backends: &[(&str, SocketAddr)],
) -> String {
    let mut text = format!(
        "[server]\nworkers = 1\ngrace_period = \"1s\"\n\n\
         [listeners.edge]\nbind = \"127.0.0.1:0\"\nprotocol = \"tls_passthrough\"\nsni = {sni}\n"
    );
    if default.is_some() {
        text.push_str("upstream = \"fallback\"\n");
    }
    for (name, addr) in backends {
        text.push_str(&format!("\n[upstreams.{name}]\nbackends = [\"{addr}\"]\n"));
    }
    if let Some(addr) = default {
        text.push_str(&format!(
            "\n[upstreams.fallback]\nbackends = [\"{addr}\"]\n"
        ));
    }
    text
}

#[tokio::test]
async fn tls_is_routed_by_server_name_without_being_terminated() {
    let ca = TestCa::new();
    let shop = tls_backend("shop", &ca, &["shop.example.com"]).await;
    let wild = tls_backend("wild", &ca, &["*.example.com"]).await;
    let other = tls_backend("fallback", &ca, &["other.org", "example.net"]).await;
    let proxy = TestProxy::start(&passthrough_config(
        "{ \"shop.example.com\" = \"shop\", \"*.example.com\" = \"wild\" }",
        Some(other.addr()),
        &[("shop", shop.addr()), ("wild", wild.addr())],
    ));
    let edge = proxy.listener("edge");
    // The client verifies the backend's own certificate: shoal never held a key.
    assert_eq!(
        tls_hello(edge, &ca, "shop.example.com").await,
        Ok("shop".into())
    );
    assert_eq!(
        tls_hello(edge, &ca, "SHOP.example.com").await,
        Ok("shop".into())
    );
    assert_eq!(
        tls_hello(edge, &ca, "blog.example.com").await,
        Ok("wild".into())
    );
    assert_eq!(
        tls_hello(edge, &ca, "other.org").await,
        Ok("fallback".into())
    );
}

#[tokio::test]
async fn an_unknown_server_name_without_a_default_gets_a_tls_alert() {
    let ca = TestCa::new();
    let shop = tls_backend("shop", &ca, &["shop.example.com"]).await;
    let proxy = TestProxy::start(&passthrough_config(
        "{ \"shop.example.com\" = \"shop\" }",
        None,
        &[("shop", shop.addr())],
    ));
    let edge = proxy.listener("edge");
    let refused = tls_hello(edge, &ca, "other.org")
        .await
        .expect_err("refused");
    assert!(
        refused.to_lowercase().contains("unrecognisedname")
            || refused.to_lowercase().contains("unrecognized"),
        "{refused}"
    );
    assert_eq!(
        tls_hello(edge, &ca, "shop.example.com").await,
        Ok("shop".into())
    );
}

#[tokio::test]
async fn bytes_that_are_not_tls_are_refused_by_a_passthrough_listener() {
    let ca = TestCa::new();
    let shop = tls_backend("shop", &ca, &["shop.example.com"]).await;
    let proxy = TestProxy::start(&passthrough_config(
        "{ \"shop.example.com\" = \"shop\" }",
        Some(shop.addr()),
        &[("shop", shop.addr())],
    ));
    let answer = exchange(proxy.listener("edge"), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(answer.as_ref().map_or(true, |b| b.is_empty()), "{answer:?}");
}

// ---- accept_proxy_protocol on http listeners ----

mod http_listener {
    use super::*;
    use crate::support::{config, raw_exchange, recording, route, upstream, RawConn};

    fn http_config(backend: &shoal_test_support::TestBackend, trusted: &str) -> String {
        config(
            1,
            &format!("accept_proxy_protocol = {{ trusted = [\"{trusted}\"] }}"),
            &format!(
                "{}{}",
                route("", "upstream = \"app\"", ""),
                upstream("app", "round_robin", &[backend], "")
            ),
        )
    }

    #[tokio::test]
    async fn the_client_named_by_a_trusted_header_is_the_one_forwarded() {
        let backends = recording(&["a"]).await;
        let proxy = TestProxy::start(&http_config(&backends[0], "127.0.0.0/8"));
        let web = proxy.listener("web");
        for header in [
            b"PROXY TCP4 203.0.113.9 10.1.1.1 5555 80\r\n".to_vec(),
            v2_header(
                "203.0.113.9:5555".parse().expect("addr"),
                "10.1.1.1:80".parse().expect("addr"),
            ),
        ] {
            let mut conn = RawConn::connect(web).await;
            conn.send(&header).await;
            // Two keep-alive requests after one header: the header is read once, exactly.
            conn.send(b"GET /one HTTP/1.1\r\nHost: shop\r\n\r\n").await;
            assert_eq!(conn.read_response(WAIT).await.status, 200);
            conn.send(b"GET /two HTTP/1.1\r\nHost: shop\r\n\r\n").await;
            assert_eq!(conn.read_response(WAIT).await.status, 200);
        }
        let seen = backends[0].requests();
        assert_eq!(seen.len(), 4);
        for request in &seen {
            assert_eq!(request.header("x-forwarded-for"), Some("203.0.113.9"));
        }
    }

    #[tokio::test]
    async fn a_trusted_peer_without_a_header_gets_no_http() {
        let backends = recording(&["a"]).await;
        let proxy = TestProxy::start(&http_config(&backends[0], "127.0.0.1"));
        let outcome = raw_exchange(
            proxy.listener("web"),
            b"GET / HTTP/1.1\r\nHost: shop\r\n\r\n",
            WAIT,
        )
        .await;
        assert!(
            outcome.closed && outcome.bytes.is_empty(),
            "{}",
            outcome.text()
        );
        assert!(backends[0].requests().is_empty());
    }

    #[tokio::test]
    async fn an_untrusted_peer_cannot_claim_another_address() {
        let backends = recording(&["a"]).await;
        let proxy = TestProxy::start(&http_config(&backends[0], "10.0.0.0/8"));
        let web = proxy.listener("web");
        let outcome = raw_exchange(
            web,
            b"PROXY TCP4 198.51.100.1 10.1.1.1 5555 80\r\nGET / HTTP/1.1\r\nHost: shop\r\n\r\n",
            WAIT,
        )
        .await;
        outcome.assert_one_then_closed(400, "a PROXY line from an untrusted peer");
        assert!(backends[0].requests().is_empty());
        // Its ordinary requests are served, with its own address.
        let mut conn = RawConn::connect(web).await;
        conn.send(b"GET / HTTP/1.1\r\nHost: shop\r\n\r\n").await;
        assert_eq!(conn.read_response(WAIT).await.status, 200);
        let seen = backends[0].requests();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].header("x-forwarded-for"), Some("127.0.0.1"));
    }
}
