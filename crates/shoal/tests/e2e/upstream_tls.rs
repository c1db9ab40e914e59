//! TLS from shoal to its backends (`tls = { ca, server_name, ... }`): verified always, never
//! cleartext, pooled and resumed, health-checked over TLS. Certificates are made at test
//! time; backends are real hyper servers behind a real TLS terminator.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use shoal_health::BackendStatus;
use shoal_test_support::{TempDir, TestBackend, TestCa, TestClient, TestProxy, TlsFront};

use crate::support::*;

/// Names the test certificates carry: a DNS name and the loopback address.
const NAMES: &[&str] = &["backend.internal", "127.0.0.1"];

/// Listener `web` → upstream `app` over `addrs`, one worker, with `extra` lines (the `tls`
/// table among them).
fn tls_config(addrs: &[SocketAddr], extra: &str) -> String {
    let list: Vec<String> = addrs.iter().map(|a| format!("\"{a}\"")).collect();
    config(
        1,
        "",
        &format!(
            "{}[upstreams.app]\nbackends = [{}]\n{extra}\n",
            route("", "upstream = \"app\"", ""),
            list.join(", ")
        ),
    )
}

/// `tls = { ca = "PATH", ... }` with the CA written into `dir`.
fn tls_line(dir: &TempDir, ca: &TestCa, rest: &str) -> String {
    let path = dir.write(&format!("ca-{}.pem", rest.len()), &ca.cert_pem());
    format!("tls = {{ ca = {:?}{rest} }}", path.display().to_string())
}

async fn tls_backend(name: &str, ca: &TestCa, alpn: &[&str]) -> (TestBackend, TlsFront) {
    let backend = TestBackend::http().name(name).await;
    let front = TlsFront::in_front_of(backend.addr(), &ca.issue(NAMES))
        .alpn(alpn)
        .await;
    (backend, front)
}

#[tokio::test]
async fn http1_over_tls_reaches_a_tls_backend() {
    let dir = TempDir::new("up-tls-ok");
    let ca = TestCa::new();
    let (backend, front) = tls_backend("secure", &ca, &["http/1.1"]).await;
    let proxy = TestProxy::start(&tls_config(
        &[front.addr()],
        &tls_line(&dir, &ca, ", server_name = \"backend.internal\""),
    ));
    let client = TestClient::http1();
    let response = get(&client, &proxy.url("/hello?x=1")).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.text(), "secure");
    assert_eq!(backend.last_request().expect("seen").uri, "/hello?x=1");

    // Bodies both ways: one with a length, one streamed (chunked to the backend).
    let post = client
        .post(&proxy.url("/upload"), "sized body")
        .await
        .expect("POST");
    assert_eq!(post.status, 200);
    assert_eq!(backend.last_request().expect("seen").body, "sized body");
    let h2c = TestClient::h2c();
    let request = Request::post(proxy.url("/stream"))
        .body(Bytes::from_static(b"from an h2 client, no length"))
        .expect("request");
    let streamed = h2c.send(request).await.expect("h2c POST");
    assert_eq!(streamed.status, 200);
    assert_eq!(
        backend.last_request().expect("seen").body,
        "from an h2 client, no length"
    );

    let handshakes = front.handshakes();
    assert!(!handshakes.is_empty());
    for handshake in &handshakes {
        assert_eq!(handshake.sni.as_deref(), Some("backend.internal"));
        assert_eq!(handshake.alpn.as_deref(), Some(&b"http/1.1"[..]));
        assert!(!handshake.client_cert);
    }
}

#[tokio::test]
async fn without_server_name_the_backend_ip_is_verified() {
    let dir = TempDir::new("up-tls-ip");
    let ca = TestCa::new();
    let (_backend, front) = tls_backend("by-ip", &ca, &[]).await;
    let proxy = TestProxy::start(&tls_config(&[front.addr()], &tls_line(&dir, &ca, "")));
    let response = get(&TestClient::http1(), &proxy.url("/")).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.text(), "by-ip");
    // An IP address is checked against the certificate but never sent as SNI.
    assert_eq!(front.handshakes()[0].sni, None);

    // A certificate without the IP address fails verification.
    let dns_only = TestBackend::http().name("dns-only").await;
    let front = TlsFront::in_front_of(dns_only.addr(), &ca.issue(&["backend.internal"])).await;
    let proxy = TestProxy::start(&tls_config(&[front.addr()], &tls_line(&dir, &ca, "")));
    let response = get(&TestClient::http1(), &proxy.url("/")).await;
    assert_eq!(response.status, 502, "{}", response.text());
    assert_eq!(dns_only.hits(), 0);
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_a_502_and_nothing_reaches_the_backend() {
    let dir = TempDir::new("up-tls-wrong-ca");
    let trusted = TestCa::named("trusted CA");
    let other = TestCa::named("some other CA");
    let (backend, front) = tls_backend("impostor", &other, &[]).await;
    let proxy = TestProxy::start(&tls_config(
        &[front.addr()],
        &tls_line(&dir, &trusted, ", server_name = \"backend.internal\""),
    ));
    let client = TestClient::http1();
    for _ in 0..3 {
        let response = get(&client, &proxy.url("/secret")).await;
        assert_eq!(response.status, 502, "{}", response.text());
        assert_error_body(
            502,
            &response.text(),
            response.header("x-request-id"),
            &format!("TLS with {} failed", front.addr()),
        );
        assert!(
            response.text().contains("UnknownIssuer"),
            "names the verification failure: {}",
            response.text()
        );
    }
    assert_eq!(
        backend.hits(),
        0,
        "no request crossed an unverified connection"
    );
    assert!(front.handshakes().is_empty());
    assert!(front.failed_handshakes() >= 3);
    // A POST is refused the same way: a failed handshake is a connect failure.
    let post = client.post(&proxy.url("/p"), "data").await.expect("POST");
    assert_eq!(post.status, 502);
    assert_eq!(backend.hits(), 0);
}

#[tokio::test]
async fn a_certificate_for_another_name_is_a_502() {
    let dir = TempDir::new("up-tls-wrong-name");
    let ca = TestCa::new();
    let (backend, front) = tls_backend("misnamed", &ca, &[]).await;
    let proxy = TestProxy::start(&tls_config(
        &[front.addr()],
        &tls_line(&dir, &ca, ", server_name = \"payments.internal\""),
    ));
    let response = get(&TestClient::http1(), &proxy.url("/")).await;
    assert_eq!(response.status, 502, "{}", response.text());
    assert!(
        response
            .text()
            .contains("certificate not valid for name \"payments.internal\""),
        "{}",
        response.text()
    );
    assert_eq!(backend.hits(), 0);
    assert!(
        front.last_error().is_some(),
        "the backend saw the handshake fail"
    );
}

#[tokio::test]
async fn a_cleartext_backend_behind_a_tls_upstream_gets_no_request() {
    let dir = TempDir::new("up-tls-plaintext");
    let ca = TestCa::new();
    let plain = TestBackend::http().name("plain").record(16).await;
    let proxy = TestProxy::start(&tls_config(
        &[plain.addr()],
        &tls_line(&dir, &ca, ", server_name = \"backend.internal\""),
    ));
    let client = TestClient::http1();
    let response = get(&client, &proxy.url("/never-in-cleartext")).await;
    assert_eq!(response.status, 502, "{}", response.text());
    assert!(response.text().contains("TLS with"), "{}", response.text());
    let post = client
        .post(&proxy.url("/p"), "password=hunter2")
        .await
        .expect("POST");
    assert_eq!(post.status, 502);
    assert!(plain.connections() >= 1, "shoal did try the backend");
    assert_eq!(plain.hits(), 0, "but no request went in cleartext");
    assert!(plain.requests().is_empty());
}

#[tokio::test]
async fn a_failed_handshake_moves_on_to_the_next_backend_like_a_refused_connect() {
    let dir = TempDir::new("up-tls-failover");
    let ca = TestCa::new();
    let other = TestCa::named("untrusted");
    let (bad_backend, bad) = tls_backend("bad", &other, &[]).await;
    let (_good_backend, good) = tls_backend("good", &ca, &[]).await;
    // retries = 0: a handshake failure sent nothing, so moving on is not a retry.
    let proxy = TestProxy::start(&tls_config(
        &[bad.addr(), good.addr()],
        &format!(
            "algorithm = \"round_robin\"\nretries = 0\n{}",
            tls_line(&dir, &ca, ", server_name = \"backend.internal\"")
        ),
    ));
    let client = TestClient::http1();
    for i in 0..4 {
        let response = client
            .post(&proxy.url(&format!("/p{i}")), "body")
            .await
            .expect("POST");
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(response.backend(), Some("good"));
    }
    assert_eq!(bad_backend.hits(), 0);
}

#[tokio::test]
async fn pooled_tls_connections_are_reused() {
    let dir = TempDir::new("up-tls-pool");
    let ca = TestCa::new();
    let (backend, front) = tls_backend("pooled", &ca, &["http/1.1"]).await;
    let proxy = TestProxy::start(&tls_config(
        &[front.addr()],
        &tls_line(&dir, &ca, ", server_name = \"backend.internal\""),
    ));
    let client = TestClient::http1();
    for i in 0..20 {
        let response = get(&client, &proxy.url(&format!("/r{i}"))).await;
        assert_eq!(response.status, 200, "{}", response.text());
    }
    assert_eq!(backend.hits(), 20);
    assert_eq!(front.connections(), 1, "one TLS connection served all 20");
    assert_eq!(front.handshakes().len(), 1);
    assert_eq!(backend.connections(), 1);
}

#[tokio::test]
async fn new_tls_connections_resume_the_session() {
    let dir = TempDir::new("up-tls-resume");
    let ca = TestCa::new();
    let (_backend, front) = tls_backend("resumed", &ca, &[]).await;
    // No pooling: every request makes a new connection, and all but the first resume.
    let proxy = TestProxy::start(&tls_config(
        &[front.addr()],
        &format!(
            "max_idle_connections = 0\n{}",
            tls_line(&dir, &ca, ", server_name = \"backend.internal\"")
        ),
    ));
    let client = TestClient::http1();
    for _ in 0..4 {
        let response = get(&client, &proxy.url("/")).await;
        assert_eq!(response.status, 200, "{}", response.text());
    }
    let handshakes = front.handshakes();
    assert_eq!(handshakes.len(), 4);
    assert!(!handshakes[0].resumed, "the first handshake is a full one");
    assert!(
        handshakes[1..].iter().all(|h| h.resumed),
        "later ones resume: {handshakes:?}"
    );
}

#[tokio::test]
async fn mutual_tls_presents_the_client_certificate() {
    let dir = TempDir::new("up-tls-mtls");
    let ca = TestCa::new();
    let client_cert = ca.issue_client("shoal");
    let backend = TestBackend::http().name("strict").await;
    let front = TlsFront::in_front_of(backend.addr(), &ca.issue(NAMES))
        .client_ca(&ca.cert_pem())
        .await;

    let without = TestProxy::start(&tls_config(
        &[front.addr()],
        &tls_line(&dir, &ca, ", server_name = \"backend.internal\""),
    ));
    let response = get(&TestClient::http1(), &without.url("/")).await;
    assert_eq!(response.status, 502, "{}", response.text());
    assert_eq!(backend.hits(), 0);

    let cert = dir.write("shoal.pem", &client_cert.cert_pem);
    let key = dir.write("shoal.key", &client_cert.key_pem);
    let with = TestProxy::start(&tls_config(
        &[front.addr()],
        &tls_line(
            &dir,
            &ca,
            &format!(
                ", server_name = \"backend.internal\", client_cert = {:?}, client_key = {:?}",
                cert.display().to_string(),
                key.display().to_string()
            ),
        ),
    ));
    let response = get(&TestClient::http1(), &with.url("/")).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.text(), "strict");
    assert!(front.handshakes().iter().all(|h| h.client_cert));
}

#[tokio::test]
async fn health_checks_reach_a_tls_backend_over_tls() {
    let dir = TempDir::new("up-tls-health");
    let ca = TestCa::new();
    let other = TestCa::named("untrusted");
    let good = TestBackend::http().name("good").record(1 << 12).await;
    let good_front = TlsFront::in_front_of(good.addr(), &ca.issue(NAMES)).await;
    let bad = TestBackend::http().name("bad").record(1 << 12).await;
    let bad_front = TlsFront::in_front_of(bad.addr(), &other.issue(NAMES)).await;
    let proxy = TestProxy::start(&tls_config(
        &[good_front.addr(), bad_front.addr()],
        &format!(
            "{}\n[upstreams.app.health]\ninterval = \"100ms\"\ntimeout = \"80ms\"\nrise = 1\nfall = 1\n",
            tls_line(&dir, &ca, ", server_name = \"backend.internal\"")
        ),
    ));
    until_status(
        &proxy,
        good_front.addr(),
        BackendStatus::Ready,
        Duration::from_secs(5),
    )
    .await;
    assert!(probes(&good) >= 1, "the probe went over TLS to the backend");
    // The backend with an untrusted certificate never becomes ready, and learns nothing.
    assert_ne!(status(&proxy, bad_front.addr()), BackendStatus::Ready);
    assert_eq!(bad.hits(), 0);
    let view = proxy
        .proxy()
        .health()
        .view("app", bad_front.addr())
        .await
        .expect("known backend");
    let reason = view
        .last_probe
        .as_ref()
        .and_then(|p| p.reason())
        .unwrap_or_default()
        .to_string();
    assert!(reason.contains("TLS"), "last probe: {reason:?}");
    for _ in 0..4 {
        let response = get(&TestClient::http1(), &proxy.url("/")).await;
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(response.backend(), Some("good"));
    }
}

#[tokio::test]
async fn a_reload_with_another_ca_does_not_reuse_connections_verified_by_the_old_one() {
    let dir = TempDir::new("up-tls-reload");
    let ca = TestCa::new();
    let other = TestCa::named("replacement CA");
    let (backend, front) = tls_backend("b", &ca, &[]).await;
    let trusting = tls_config(
        &[front.addr()],
        &tls_line(&dir, &ca, ", server_name = \"backend.internal\""),
    );
    let proxy = TestProxy::start(&trusting);
    let client = TestClient::http1();
    assert_eq!(get(&client, &proxy.url("/1")).await.status, 200);
    // The same settings again: the pooled connection carries on.
    proxy.reload(&trusting);
    assert_eq!(get(&client, &proxy.url("/2")).await.status, 200);
    assert_eq!(front.connections(), 1);
    // A CA that does not sign the backend's certificate: the pooled connection, verified
    // against the old CA, must not serve the next request.
    let other_path = dir.write("other.pem", &other.cert_pem());
    proxy.reload(&tls_config(
        &[front.addr()],
        &format!(
            "tls = {{ ca = {:?}, server_name = \"backend.internal\" }}",
            other_path.display().to_string()
        ),
    ));
    let response = get(&client, &proxy.url("/3")).await;
    assert_eq!(response.status, 502, "{}", response.text());
    assert_eq!(backend.hits(), 2);
}

#[tokio::test]
async fn shoal_check_reads_the_tls_files_relative_to_the_config() {
    let dir = TempDir::new("up-tls-check");
    let ca = TestCa::new();
    dir.write("backend-ca.pem", &ca.cert_pem());
    let upstream = |ca_file: &str| {
        format!(
            "[listeners.web]\nbind = \"127.0.0.1:0\"\n[[listeners.web.routes]]\nupstream = \"app\"\n\
             [upstreams.app]\nbackends = [\"127.0.0.1:9443\"]\nprotocol = \"h2\"\n\
             tls = {{ ca = \"{ca_file}\", server_name = \"backend.internal\" }}\n"
        )
    };
    let good = dir.write("good.toml", &upstream("backend-ca.pem"));
    let (code, stdout, stderr) =
        crate::cli::run_to_end(&["check", "-c", good.to_str().expect("utf-8")]).await;
    assert_eq!(code, Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.contains("h2 over TLS: ca ") && stdout.contains("server_name backend.internal"),
        "{stdout}"
    );

    let bad = dir.write("bad.toml", &upstream("missing-ca.pem"));
    let (code, _stdout, stderr) =
        crate::cli::run_to_end(&["check", "-c", bad.to_str().expect("utf-8")]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("upstreams.app.tls.ca (line 8): cannot read "),
        "{stderr}"
    );
    assert!(stderr.contains("missing-ca.pem"), "{stderr}");
}
