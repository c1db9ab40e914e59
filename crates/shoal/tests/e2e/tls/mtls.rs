//! Client certificates (`client_ca`): without a valid one the handshake fails and nothing
//! reaches a backend; with one the request is served. `client_auth = "optional"` lets
//! clients without a certificate in, but still refuses a wrong one.

use shoal_test_support::{eventually, TestBackend, TestCa, TestProxy};

use super::handshake::handshake_counts;
use super::*;

async fn mtls(name: &str, client_auth: &str) -> (Pki, TestBackend, TestProxy) {
    let pki = Pki::new(name);
    let (_, cert, key) = pki.issue("shop", &["shop.example.com"]);
    let ca = pki.dir.write("clients-ca.pem", &pki.ca.cert_pem());
    let backend = TestBackend::http().name("b").await;
    let proxy = TestProxy::start(&https_config(
        &format!(
            "{}\nclient_ca = {}\n{client_auth}",
            certificates(&[(&cert, &key)]),
            toml_path(&ca)
        ),
        &backend,
        "",
    ));
    (pki, backend, proxy)
}

/// The client's view of a refused client certificate: the handshake fails, or (TLS 1.3,
/// where the server checks the certificate after the client finished) the first request
/// gets no answer.
async fn refused(addr: SocketAddr, config: Arc<ClientConfig>) -> bool {
    match connect(addr, "shop.example.com", config).await {
        Err(_) => true,
        Ok(stream) => HttpsConn::open(stream)
            .await
            .get("shop.example.com", "/", &[])
            .await
            .is_err(),
    }
}

#[tokio::test]
async fn a_client_without_a_valid_certificate_is_refused() {
    let (pki, backend, proxy) = mtls("tls-mtls", "").await;
    let addr = proxy.listener("secure");
    let stranger = TestCa::named("another CA").issue_client("mallory");
    for versions in [
        &[&rustls::version::TLS13][..],
        &[&rustls::version::TLS12][..],
    ] {
        let none = client_config(&pki.ca, &["http/1.1"], versions, None);
        assert!(refused(addr, none).await, "no certificate ({versions:?})");
        let wrong = client_config(&pki.ca, &["http/1.1"], versions, Some(&stranger));
        assert!(
            refused(addr, wrong).await,
            "a certificate from another CA ({versions:?})"
        );
    }
    eventually(WAIT, || async { handshake_counts(&proxy) == (0, 4) }).await;
    assert_eq!(backend.hits(), 0);

    let alice = pki.ca.issue_client("alice");
    for alpn in ["http/1.1", "h2"] {
        let good = client_config(&pki.ca, &[alpn], BOTH, Some(&alice));
        let answer = https_get(addr, "shop.example.com", "/", good)
            .await
            .expect("a client with a certificate from client_ca is served");
        assert_eq!(answer.status, 200, "{alpn}");
    }
    assert_eq!(backend.hits(), 2);
}

#[tokio::test]
async fn optional_client_auth_admits_clients_without_a_certificate() {
    let (pki, backend, proxy) = mtls("tls-mtls-optional", "client_auth = \"optional\"").await;
    let addr = proxy.listener("secure");
    let anonymous = client_config(&pki.ca, &["http/1.1"], BOTH, None);
    let answer = https_get(addr, "shop.example.com", "/", anonymous)
        .await
        .expect("served without a certificate");
    assert_eq!(answer.status, 200);
    let alice = pki.ca.issue_client("alice");
    let good = client_config(&pki.ca, &["http/1.1"], BOTH, Some(&alice));
    let answer = https_get(addr, "shop.example.com", "/", good)
        .await
        .expect("served with a good certificate");
    assert_eq!(answer.status, 200);
    let stranger = TestCa::named("another CA").issue_client("mallory");
    let wrong = client_config(&pki.ca, &["http/1.1"], BOTH, Some(&stranger));
    assert!(refused(addr, wrong).await, "a wrong certificate is refused");
    assert_eq!(backend.hits(), 2);
}
