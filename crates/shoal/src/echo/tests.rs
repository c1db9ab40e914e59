//! Echo server tests: a real server on 127.0.0.1:0, real clients, one test per behaviour.

use super::*;
use serde_json::Value;
use shoal_core::Shutdown;
use shoal_test_support::{eventually, RawResponse, TestClient, TestResponse};
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(5);

/// A running echo server; dropping `shutdown` would stop it, so tests keep it.
struct Running {
    addr: SocketAddr,
    state: Arc<EchoState>,
    shutdown: Shutdown,
    task: JoinHandle<io::Result<()>>,
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

async fn start(name: &str) -> Running {
    let server = EchoServer::bind(EchoOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        name: name.to_string(),
    })
    .await
    .unwrap();
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0);
    let state = server.state.clone();
    let (shutdown, signal) = Shutdown::new();
    let task = tokio::spawn(server.serve(signal));
    Running {
        addr,
        state,
        shutdown,
        task,
    }
}

fn json(response: &TestResponse) -> Value {
    response.json().unwrap()
}

#[tokio::test]
async fn answers_with_a_json_description_of_the_request() {
    let echo = start("e1").await;
    let client = TestClient::http1();
    let request = http::Request::post(echo.url("/some/path?a=1&b=two"))
        .header("x-one", "1")
        .header("accept", "a/b")
        .header("accept", "c/d")
        .body(Bytes::from(vec![7u8; 1234]))
        .unwrap();
    let response = client.send(request).await.unwrap();
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.backend(), Some("e1"));
    assert_eq!(response.header("content-type"), Some("application/json"));
    let body = json(&response);
    assert_eq!(body["backend"], "e1");
    assert_eq!(body["method"], "POST");
    assert_eq!(body["path"], "/some/path");
    assert_eq!(body["query"], "a=1&b=two");
    assert_eq!(body["version"], "HTTP/1.1");
    assert_eq!(body["body_bytes"], 1234);
    assert_eq!(body["headers"]["x-one"], "1");
    assert_eq!(body["headers"]["accept"], serde_json::json!(["a/b", "c/d"]));
    assert_eq!(body["headers"]["host"], echo.addr.to_string());
    let client_addr: SocketAddr = body["client"].as_str().unwrap().parse().unwrap();
    assert!(client_addr.ip().is_loopback());

    // Keep-alive: the second answer comes over the same connection, from the same port.
    let again = json(&client.get(&echo.url("/")).await.unwrap());
    assert_eq!(again["client"], body["client"]);
    assert_eq!(again["query"], "");
    assert_eq!(again["body_bytes"], 0);
    assert_eq!(client.connections_opened(), 1);
}

#[tokio::test]
async fn speaks_h2c_with_prior_knowledge() {
    let echo = start("h2").await;
    let response = TestClient::h2c().get(&echo.url("/x")).await.unwrap();
    assert_eq!(response.version, http::Version::HTTP_2);
    assert_eq!(response.backend(), Some("h2"));
    assert_eq!(json(&response)["version"], "HTTP/2.0");
}

#[tokio::test]
async fn status_parameter_sets_the_status_and_keeps_the_json() {
    let echo = start("s").await;
    let response = TestClient::http1()
        .get(&echo.url("/?status=503"))
        .await
        .unwrap();
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json(&response)["query"], "status=503");
    assert_eq!(response.backend(), Some("s"));
}

#[tokio::test]
async fn delay_parameter_waits_before_answering() {
    let echo = start("d").await;
    let started = Instant::now();
    let response = TestClient::http1()
        .get(&echo.url("/?delay=150ms"))
        .await
        .unwrap();
    assert_eq!(response.status, StatusCode::OK);
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn cpu_parameter_spins_before_answering() {
    let echo = start("c").await;
    let started = Instant::now();
    let response = TestClient::http1()
        .get(&echo.url("/?cpu=40ms"))
        .await
        .unwrap();
    assert_eq!(response.status, StatusCode::OK);
    assert!(
        started.elapsed() >= Duration::from_millis(40),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn bytes_parameter_streams_filler() {
    let echo = start("b").await;
    let client = TestClient::http1();
    let n = 3 * CHUNK + 17;
    let response = client
        .get(&echo.url(&format!("/?bytes={n}")))
        .await
        .unwrap();
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(
        response.header("content-length"),
        Some(n.to_string().as_str())
    );
    assert_eq!(response.body.len(), n);
    assert!(response.body.iter().all(|b| *b == b'.'));

    let empty = client.get(&echo.url("/?bytes=0")).await.unwrap();
    assert!(empty.body.is_empty());
    assert_eq!(empty.backend(), Some("b"));
}

#[tokio::test]
async fn parameters_combine() {
    let echo = start("all").await;
    let started = Instant::now();
    let response = TestClient::h2c()
        .get(&echo.url("/?status=418&bytes=100&delay=50ms&cpu=10ms&other=x"))
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(60),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(response.status.as_u16(), 418);
    assert_eq!(response.body.len(), 100);
    assert_eq!(response.backend(), Some("all"));
}

#[tokio::test]
async fn bad_parameters_get_400_and_the_next_request_still_works() {
    let echo = start("bad").await;
    let client = TestClient::http1();
    let cases = [
        ("status=abc", "invalid status"),
        ("status=99", "invalid status"),
        ("status=600", "invalid status"),
        ("delay=soon", "invalid delay"),
        ("delay=61s", "above the limit"),
        ("cpu=-1ms", "invalid cpu"),
        ("cpu=11s", "above the limit"),
        ("bytes=lots", "invalid bytes"),
        ("bytes=1073741825", "above the limit"),
    ];
    for (query, message) in cases {
        let response = client.get(&echo.url(&format!("/?{query}"))).await.unwrap();
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(
            response.text().contains(message),
            "{query}: {}",
            response.text()
        );
        assert_eq!(response.backend(), Some("bad"));
        let next = client.get(&echo.url("/")).await.unwrap();
        assert_eq!(next.status, StatusCode::OK, "after {query}");
    }
}

#[tokio::test]
async fn health_endpoints_and_switchable_readiness() {
    let echo = start("h").await;
    let client = TestClient::http1();
    let live = client.get(&echo.url("/health/live")).await.unwrap();
    assert_eq!(
        (live.status, live.text().as_str()),
        (StatusCode::OK, "ok\n")
    );
    assert_eq!(live.backend(), Some("h"));
    let ready = client.get(&echo.url("/health/ready")).await.unwrap();
    assert_eq!(
        (ready.status, ready.text().as_str()),
        (StatusCode::OK, "ok\n")
    );

    let set = client
        .post(&echo.url("/health/ready?status=503"), "")
        .await
        .unwrap();
    assert_eq!(set.status, StatusCode::OK);
    for _ in 0..2 {
        let ready = client.get(&echo.url("/health/ready")).await.unwrap();
        assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(ready.text(), "not ready\n");
    }
    let live = client.get(&echo.url("/health/live")).await.unwrap();
    assert_eq!(live.status, StatusCode::OK, "liveness is not readiness");

    let missing = client.post(&echo.url("/health/ready"), "").await.unwrap();
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    let invalid = client
        .post(&echo.url("/health/ready?status=x"), "")
        .await
        .unwrap();
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
    let ready = client.get(&echo.url("/health/ready")).await.unwrap();
    assert_eq!(
        ready.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "a bad POST changes nothing"
    );

    client
        .post(&echo.url("/health/ready?status=200"), "")
        .await
        .unwrap();
    let ready = client.get(&echo.url("/health/ready")).await.unwrap();
    assert_eq!(ready.status, StatusCode::OK);
}

#[tokio::test]
async fn malformed_http_gets_400_from_hyper_and_the_server_keeps_serving() {
    let echo = start("m").await;
    let reply = TestClient::raw(echo.addr, b"GET / HTTP/1.1\r\nbad header line\r\n\r\n").await;
    assert_eq!(RawResponse::parse(&reply).unwrap().status, 400);
    let response = TestClient::http1().get(&echo.url("/")).await.unwrap();
    assert_eq!(response.status, StatusCode::OK);
}

#[tokio::test]
async fn shutdown_finishes_in_flight_requests_then_refuses() {
    let echo = start("sd").await;
    let url = echo.url("/?delay=300ms");
    let request = tokio::spawn(async move { TestClient::http1().get(&url).await });
    let state = echo.state.clone();
    eventually(WAIT, || async {
        state.in_flight.load(Ordering::SeqCst) == 1
    })
    .await;

    echo.shutdown.trigger();
    let response = request.await.unwrap().unwrap();
    assert_eq!(
        response.status,
        StatusCode::OK,
        "the in-flight request completes"
    );
    echo.task.await.unwrap().unwrap();
    let refused = TcpStream::connect(echo.addr).await.unwrap_err();
    assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
}

#[tokio::test]
async fn shutdown_closes_idle_keep_alive_connections() {
    let echo = start("idle").await;
    let client = TestClient::http1();
    client.get(&echo.url("/")).await.unwrap();
    echo.shutdown.trigger();
    // Returns promptly: an idle connection does not hold the drain.
    tokio::time::timeout(WAIT, echo.task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn bind_rejects_a_name_that_cannot_be_a_header() {
    let error = EchoServer::bind(EchoOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        name: "bad\nname".to_string(),
    })
    .await
    .unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn params_accept_values_up_to_their_bounds() {
    let params = Params::parse(Some("status=200&delay=60s&cpu=10s&bytes=1073741824")).unwrap();
    assert_eq!(
        params,
        Params {
            status: Some(StatusCode::OK),
            delay: Some(MAX_DELAY),
            bytes: Some(MAX_BYTES),
            cpu: Some(MAX_CPU),
        }
    );
    assert_eq!(Params::parse(None).unwrap(), Params::default());
    assert_eq!(Params::parse(Some("&&x&y=1")).unwrap(), Params::default());
    let last = Params::parse(Some("status=500&status=502")).unwrap();
    assert_eq!(
        last.status,
        Some(StatusCode::BAD_GATEWAY),
        "the last value wins"
    );
    assert!(Params::parse(Some("status=599")).is_ok());
    assert!(
        Params::parse(Some("status")).is_err(),
        "a parameter without a value is invalid"
    );
}
