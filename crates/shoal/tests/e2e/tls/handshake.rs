//! The handshake: which certificate SNI selects, which versions are spoken, what a stalled
//! client gets, and what a listener with unusable files does at start.

use std::time::Duration;

use rustls::ProtocolVersion;
use shoal_config::Config;
use shoal_proxy::ProxyHandle;
use shoal_test_support::{eventually, TestBackend, TestProxy};
use shoal_tls::rustls;

use super::*;
use crate::support::{raw_exchange, RawConn};

/// The proxy's handshake counters for listener `secure`: (completed, failed).
pub fn handshake_counts(proxy: &TestProxy) -> (u64, u64) {
    let snapshot = proxy.proxy().snapshot();
    let stats = snapshot
        .listener("secure")
        .and_then(|l| l.tls.as_ref())
        .expect("listener secure has TLS")
        .stats()
        .clone();
    (stats.handshakes(), stats.handshake_failures())
}

/// Two certificates: `shop` (shop.example.com, and 127.0.0.1 so an IP client can verify
/// the default) first, then `wild` (*.example.com).
async fn two_certificates(name: &str) -> (Pki, TestBackend, TestProxy) {
    let pki = Pki::new(name);
    let (_, shop_cert, shop_key) = pki.issue("shop", &["shop.example.com", "127.0.0.1"]);
    let (_, wild_cert, wild_key) = pki.issue("wild", &["*.example.com"]);
    let backend = TestBackend::http().name("b").await;
    let proxy = TestProxy::start(&https_config(
        &certificates(&[(&shop_cert, &shop_key), (&wild_cert, &wild_key)]),
        &backend,
        "",
    ));
    (pki, backend, proxy)
}

#[tokio::test]
async fn sni_selects_the_certificate_by_its_names() {
    let (pki, _backend, proxy) = two_certificates("tls-sni").await;
    let addr = proxy.listener("secure");
    let config = client_config(&pki.ca, &["http/1.1"], BOTH, None);
    for (sni, expected) in [
        ("shop.example.com", vec!["shop.example.com"]),
        ("www.example.com", vec!["*.example.com"]),
        ("API.Example.COM", vec!["*.example.com"]),
    ] {
        let stream = connect(addr, sni, config.clone())
            .await
            .unwrap_or_else(|e| panic!("handshake for {sni}: {e}"));
        assert_eq!(presented_names(&stream), expected, "SNI {sni}");
        let answer = HttpsConn::open(stream)
            .await
            .get(sni, "/", &[])
            .await
            .expect("request");
        assert_eq!(answer.status, 200, "SNI {sni}");
    }
}

#[tokio::test]
async fn unknown_or_missing_sni_gets_the_first_certificate() {
    let (pki, _backend, proxy) = two_certificates("tls-default").await;
    let addr = proxy.listener("secure");
    // A name no certificate carries (the client accepts any certificate, to see which).
    for sni in ["unknown.test", "a.b.example.com", "example.com"] {
        let stream = connect(addr, sni, any_certificate())
            .await
            .unwrap_or_else(|e| panic!("handshake for {sni}: {e}"));
        assert_eq!(presented_names(&stream), ["shop.example.com"], "SNI {sni}");
    }
    // An IP address: no SNI at all; the default certificate verifies for the IP.
    let config = client_config(&pki.ca, &[], BOTH, None);
    let stream = connect(addr, "127.0.0.1", config)
        .await
        .expect("handshake without SNI");
    assert_eq!(presented_names(&stream), ["shop.example.com"]);
    let answer = HttpsConn::open(stream)
        .await
        .get("127.0.0.1", "/", &[])
        .await
        .expect("request");
    assert_eq!(answer.status, 200);
}

#[tokio::test]
async fn tls_12_and_13_are_spoken() {
    let (pki, _backend, proxy) = two_certificates("tls-versions").await;
    let addr = proxy.listener("secure");
    for (versions, expected) in [
        (&[&rustls::version::TLS12][..], ProtocolVersion::TLSv1_2),
        (&[&rustls::version::TLS13][..], ProtocolVersion::TLSv1_3),
        (BOTH, ProtocolVersion::TLSv1_3),
    ] {
        let config = client_config(&pki.ca, &["http/1.1"], versions, None);
        let stream = connect(addr, "shop.example.com", config)
            .await
            .unwrap_or_else(|e| panic!("handshake with {versions:?}: {e}"));
        assert_eq!(stream.get_ref().1.protocol_version(), Some(expected));
        let answer = HttpsConn::open(stream)
            .await
            .get("shop.example.com", "/v", &[])
            .await
            .expect("request");
        assert_eq!(answer.status, 200);
    }
}

/// A ClientHello offering only TLS 1.1 (legacy version 3.2, no supported_versions
/// extension), with CBC suites a TLS 1.1 client would offer, and SNI. With `complete`, it
/// also carries signature_algorithms and supported_groups (which TLS 1.1 does not need,
/// but whose absence a TLS 1.2 server refuses first), so the version is all that is wrong.
fn tls11_client_hello(complete: bool) -> Vec<u8> {
    let mut body = vec![0x03, 0x02];
    body.extend_from_slice(&[0x42; 32]);
    body.push(0); // no session id
    let suites: [u16; 4] = [0xc013, 0xc014, 0x002f, 0x0035];
    body.extend_from_slice(&((suites.len() * 2) as u16).to_be_bytes());
    for suite in suites {
        body.extend_from_slice(&suite.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]); // compression: null only
    let name = b"shop.example.com";
    let mut sni = ((name.len() + 3) as u16).to_be_bytes().to_vec();
    sni.push(0); // host_name
    sni.extend_from_slice(&(name.len() as u16).to_be_bytes());
    sni.extend_from_slice(name);
    let mut extensions = Vec::new();
    let mut extension = |kind: u16, data: &[u8]| {
        extensions.extend_from_slice(&kind.to_be_bytes());
        extensions.extend_from_slice(&(data.len() as u16).to_be_bytes());
        extensions.extend_from_slice(data);
    };
    extension(0, &sni);
    if complete {
        // ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256, rsa_pkcs1_sha256
        extension(13, &[0, 6, 4, 3, 8, 4, 4, 1]);
        // x25519, secp256r1
        extension(10, &[0, 4, 0, 0x1d, 0, 0x17]);
        // ec_point_formats: uncompressed
        extension(11, &[1, 0]);
    }
    body.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    body.extend_from_slice(&extensions);
    let mut handshake = vec![1]; // client_hello
    handshake.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    handshake.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

#[tokio::test]
async fn a_tls_11_client_gets_a_protocol_version_alert_and_no_http() {
    let (_pki, backend, proxy) = two_certificates("tls-11").await;
    let addr = proxy.listener("secure");
    // (hello, the alert's description): protocol_version (70) when only the version is
    // wrong; a bare TLS 1.1 hello lacks signature_algorithms, refused first with
    // handshake_failure (40).
    for (complete, description) in [(true, 70), (false, 40)] {
        let outcome = raw_exchange(addr, &tls11_client_hello(complete), WAIT).await;
        assert!(outcome.closed, "the connection closes: {:?}", outcome.bytes);
        // One alert record, fatal (2).
        assert_eq!(outcome.bytes.len(), 7, "one alert: {:?}", outcome.bytes);
        assert_eq!(
            outcome.bytes[0], 0x15,
            "an alert record: {:?}",
            outcome.bytes
        );
        assert_eq!(
            &outcome.bytes[5..7],
            &[2, description],
            "fatal alert {description}: {:?}",
            outcome.bytes
        );
    }
    eventually(WAIT, || async { handshake_counts(&proxy) == (0, 2) }).await;
    assert_eq!(backend.hits(), 0, "no HTTP served");
}

#[tokio::test]
async fn a_stalled_handshake_is_closed_at_the_handshake_timeout() {
    let pki = Pki::new("tls-stall");
    let (_, cert, key) = pki.issue("shop", &["shop.example.com"]);
    let backend = TestBackend::http().name("b").await;
    let proxy = TestProxy::start(&https_config(
        &format!(
            "{}\nhandshake_timeout = \"300ms\"",
            certificates(&[(&cert, &key)])
        ),
        &backend,
        "",
    ));
    let addr = proxy.listener("secure");

    // Connects and says nothing.
    let mut silent = RawConn::connect(addr).await;
    // Half a ClientHello, then nothing.
    let hello = tls11_client_hello(true);
    let mut half = RawConn::connect(addr).await;
    half.send(&hello[..hello.len() / 2]).await;
    for (what, conn) in [("silent", &mut silent), ("half a ClientHello", &mut half)] {
        let outcome = conn.read_to_close(WAIT).await;
        assert!(outcome.closed, "{what}: closed by the proxy");
        assert!(outcome.bytes.is_empty(), "{what}: nothing sent back");
        assert!(
            outcome.elapsed < Duration::from_secs(5),
            "{what}: closed at the handshake timeout, not later ({:?})",
            outcome.elapsed
        );
    }
    eventually(WAIT, || async { handshake_counts(&proxy) == (0, 2) }).await;
    // The listener still serves.
    let answer = https_get(
        addr,
        "shop.example.com",
        "/",
        client_config(&pki.ca, &[], BOTH, None),
    )
    .await
    .expect("served after the stalls");
    assert_eq!(answer.status, 200);
    assert_eq!(handshake_counts(&proxy), (1, 2));
}

#[tokio::test]
async fn unusable_certificate_files_stop_the_start_naming_the_key() {
    let pki = Pki::new("tls-start");
    let (_, cert, _key) = pki.issue("shop", &["shop.example.com"]);
    let (_, _, other_key) = pki.issue("other", &["other.example.com"]);
    let backend = TestBackend::http().name("b").await;
    let missing = pki.dir.path().join("missing.pem");
    for (pair, expected) in [
        (
            (&missing, &other_key),
            "listeners.secure.tls.certificates[0]: cannot read",
        ),
        (
            (&cert, &other_key),
            "listeners.secure.tls.certificates[0]: the private key in",
        ),
    ] {
        let text = https_config(&certificates(&[(pair.0, pair.1)]), &backend, "");
        let config = Config::from_toml_str(&text).expect("valid text");
        let error = ProxyHandle::start(&config).expect_err("files unusable");
        assert!(error.to_string().starts_with(expected), "{error}");
    }
}
