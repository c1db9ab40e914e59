//! Certificates change without dropping anything: files rewritten on disk are picked up by
//! the watch, a config reload re-reads them, new handshakes get the new certificate,
//! connections already open keep going, and files that cannot be used leave the old
//! certificate serving.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use shoal_config::Config;
use shoal_test_support::{eventually, TestBackend, TestProxy};

use super::handshake::handshake_counts;
use super::*;

/// The proxy's certificate reload counters for listener `secure`: (done, failed).
fn reload_counts(proxy: &TestProxy) -> (u64, u64) {
    let snapshot = proxy.proxy().snapshot();
    let stats = snapshot
        .listener("secure")
        .and_then(|l| l.tls.as_ref())
        .expect("listener secure has TLS")
        .stats()
        .clone();
    (stats.reloads(), stats.reload_failures())
}

/// The leaf a new, full handshake for shop.example.com gets (no session resumed: a resumed
/// session shows the certificate of the handshake that made it).
async fn current_leaf(addr: SocketAddr, config: &Arc<ClientConfig>) -> Vec<u8> {
    let mut config = ClientConfig::clone(config);
    config.resumption = rustls::client::Resumption::disabled();
    let stream = connect(addr, "shop.example.com", Arc::new(config))
        .await
        .expect("handshake");
    presented_leaf(&stream)
}

#[tokio::test]
async fn certificate_files_rewritten_under_load_swap_without_a_failed_handshake() {
    let pki = Pki::new("tls-hot-swap");
    let (old, cert, key) = pki.issue("shop", &["shop.example.com"]);
    let backend = TestBackend::http().name("b").await;
    let proxy = TestProxy::start(&https_config(&certificates(&[(&cert, &key)]), &backend, ""));
    let addr = proxy.listener("secure");
    let config = client_config(&pki.ca, &["h2", "http/1.1"], BOTH, None);

    // Clients handshaking and requesting in a loop, each on a new connection.
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (stop, served, config) = (Arc::clone(&stop), Arc::clone(&served), config.clone());
        clients.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                match https_get(addr, "shop.example.com", "/", config.clone()).await {
                    Ok(answer) if answer.status == 200 => {
                        served.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(answer) => failures.push(format!("status {}", answer.status)),
                    Err(e) => failures.push(format!("{e:#}")),
                }
            }
            failures
        }));
    }
    eventually(WAIT, || async { served.load(Ordering::Relaxed) >= 20 }).await;

    // Rewritten in place, certificate then key: the watch may see the new certificate with
    // the old key, or a half-written file, and must keep the old pair serving until the
    // new one is whole.
    let new = pki.ca.issue(&["shop.example.com"]);
    pki.write("shop", &new);
    eventually(WAIT, || async {
        current_leaf(addr, &config).await == leaf_der(&new)
    })
    .await;
    let after = served.load(Ordering::Relaxed);
    eventually(WAIT, || async {
        served.load(Ordering::Relaxed) >= after + 20
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        let failures = client.await.expect("client task");
        assert!(failures.is_empty(), "failed requests: {failures:?}");
    }
    assert_ne!(leaf_der(&old), leaf_der(&new));
    assert_eq!(handshake_counts(&proxy).1, 0, "no handshake failed");
    assert!(reload_counts(&proxy).0 >= 1);
}

#[tokio::test]
async fn an_unusable_rewrite_keeps_the_old_certificate_serving() {
    let pki = Pki::new("tls-bad-rewrite");
    let (old, cert, key) = pki.issue("shop", &["shop.example.com"]);
    let backend = TestBackend::http().name("b").await;
    let proxy = TestProxy::start(&https_config(&certificates(&[(&cert, &key)]), &backend, ""));
    let addr = proxy.listener("secure");
    let config = client_config(&pki.ca, &["http/1.1"], BOTH, None);
    assert_eq!(current_leaf(addr, &config).await, leaf_der(&old));

    pki.dir
        .write("shop.pem", "-----BEGIN CERTIFICATE-----\nbroken\n");
    eventually(WAIT, || async { reload_counts(&proxy).1 >= 1 }).await;
    assert_eq!(
        current_leaf(addr, &config).await,
        leaf_der(&old),
        "the old certificate still serves"
    );

    // A certificate whose key is not the one in shop.key.
    let other = pki.ca.issue(&["shop.example.com"]);
    let failures = reload_counts(&proxy).1;
    pki.dir.write("shop.pem", &other.cert_pem);
    eventually(WAIT, || async { reload_counts(&proxy).1 > failures }).await;
    assert_eq!(current_leaf(addr, &config).await, leaf_der(&old));

    // Its key arrives: now the pair is whole and takes over.
    pki.dir.write("shop.key", &other.key_pem);
    eventually(WAIT, || async {
        current_leaf(addr, &config).await == leaf_der(&other)
    })
    .await;
}

#[tokio::test]
async fn a_config_reload_rereads_certificates_and_leaves_open_connections_alone() {
    let pki = Pki::new("tls-config-reload");
    let (a, a_cert, a_key) = pki.issue("a", &["shop.example.com"]);
    let (b, b_cert, b_key) = pki.issue("b", &["shop.example.com"]);
    let backend = TestBackend::http().name("b").await;
    let text = |cert: &Path, key: &Path| https_config(&certificates(&[(cert, key)]), &backend, "");
    let proxy = TestProxy::start(&text(&a_cert, &a_key));
    let addr = proxy.listener("secure");
    let config = client_config(&pki.ca, &["http/1.1"], BOTH, None);

    let stream = connect(addr, "shop.example.com", config.clone())
        .await
        .expect("handshake");
    assert_eq!(presented_leaf(&stream), leaf_der(&a));
    let mut open = HttpsConn::open(stream).await;
    let answer = open
        .get("shop.example.com", "/1", &[])
        .await
        .expect("first");
    assert_eq!(answer.status, 200);

    proxy.reload(&text(&b_cert, &b_key));
    assert_eq!(proxy.listener("secure"), addr, "same socket");
    assert_eq!(current_leaf(addr, &config).await, leaf_der(&b));
    let answer = open
        .get("shop.example.com", "/2", &[])
        .await
        .expect("the connection opened before the reload still serves");
    assert_eq!(answer.status, 200);
    // Counters carry over the reload. (The server counts a handshake when it completes on
    // its side, which can be just after the client's `current_leaf` returned.)
    eventually(WAIT, || async { handshake_counts(&proxy) == (2, 0) }).await;

    // The same config again after b's files were rewritten: the reload loads them (unless
    // the watch already did); either way they serve once it returns.
    let c = pki.ca.issue(&["shop.example.com"]);
    pki.write("b", &c);
    proxy.reload(&text(&b_cert, &b_key));
    assert_eq!(current_leaf(addr, &config).await, leaf_der(&c));
    let answer = open
        .get("shop.example.com", "/3", &[])
        .await
        .expect("third");
    assert_eq!(answer.status, 200);

    // A reload naming a file that is not there is refused; b keeps serving.
    let missing = pki.dir.path().join("missing.key");
    let refused = Config::from_toml_str(&text(&a_cert, &missing)).expect("valid text");
    let error = proxy.proxy().reload(&refused).expect_err("refused");
    assert!(
        error
            .to_string()
            .starts_with("listeners.secure.tls.certificates[0]: cannot read"),
        "{error}"
    );
    assert_eq!(current_leaf(addr, &config).await, leaf_der(&c));
}
