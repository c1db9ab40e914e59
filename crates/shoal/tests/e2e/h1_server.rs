//! shoal's own HTTP/1.1 server (`shoal-proxy/src/http/h1`) seen from raw client sockets:
//! `100-continue`, HEAD, HTTP/1.0 keep-alive, response framing of bodies of unknown length,
//! request bodies arriving in pieces, unread bodies skipped between requests, pipelining
//! with bodies, `Date`, the bodiless 204/304, a client that stops reading a large answer
//! (cut after `idle_timeout`) or reads it slowly (served whole), and WebSocket tunnels
//! counted in the listener's byte counters.
//!
//! Waits are reads bounded by a timeout, or [`eventually`] on the listener's counters
//! (bytes read from and written to its clients, open connections), never sleeps. The one
//! pause, in the slow reader, only paces that client.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use shoal_test_support::{eventually, TestBackend, TestProxy, TestWsBackend};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::support::*;
use crate::websocket::{next, ws_config, Ws};

/// Bound on every single wait of these tests (they pass in milliseconds).
const WAIT: Duration = Duration::from_secs(5);

/// A response head as it came over the wire.
#[derive(Debug)]
struct Head {
    /// The whole head, status line to the empty line, as text.
    text: String,
    status: u16,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A client connection read response by response, with the exact bytes at hand.
struct Wire {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Wire {
    async fn connect(addr: SocketAddr) -> Wire {
        let stream = TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream.set_nodelay(true).expect("nodelay");
        Wire {
            stream,
            buf: Vec::new(),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .await
            .unwrap_or_else(|e| panic!("write {:?}: {e}", String::from_utf8_lossy(bytes)));
    }

    /// Reads more into the buffer; false when the peer closed (EOF or reset). Panics when
    /// nothing comes within [`WAIT`].
    async fn fill(&mut self, what: &str) -> bool {
        let mut chunk = [0u8; 8192];
        match tokio::time::timeout(WAIT, self.stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => false,
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(_) => panic!(
                "waiting for {what}: nothing more within {WAIT:?}; have {:?}",
                String::from_utf8_lossy(&self.buf)
            ),
        }
    }

    /// Takes `n` bytes from the front, reading until they are there.
    async fn take(&mut self, n: usize, what: &str) -> Vec<u8> {
        while self.buf.len() < n {
            if !self.fill(what).await {
                panic!(
                    "closed while waiting for {what} ({n} bytes): have {:?}",
                    String::from_utf8_lossy(&self.buf)
                );
            }
        }
        self.buf.drain(..n).collect()
    }

    /// Takes one line (without its CRLF).
    async fn line(&mut self, what: &str) -> String {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.take(end + 2, what).await;
                return String::from_utf8_lossy(&line[..end]).into_owned();
            }
            if !self.fill(what).await {
                panic!(
                    "closed while waiting for {what}: have {:?}",
                    String::from_utf8_lossy(&self.buf)
                );
            }
        }
    }

    /// Takes one response head. The bytes must start with an `HTTP/1.1` status line: stray
    /// body bytes before it fail here.
    async fn head(&mut self) -> Head {
        let end = loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            if !self.fill("a response head").await {
                panic!(
                    "closed before a whole response head: {:?}",
                    String::from_utf8_lossy(&self.buf)
                );
            }
        };
        let text = String::from_utf8(self.buf.drain(..end).collect()).expect("ASCII head");
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP/1.1 status line at the front: {text:?}"));
        let headers = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (n, v) = l
                    .split_once(':')
                    .unwrap_or_else(|| panic!("bad field line {l:?} in {text:?}"));
                (n.to_string(), v.trim().to_string())
            })
            .collect();
        Head {
            text,
            status,
            headers,
        }
    }

    /// Takes a chunked body: its decoded bytes, and the bytes as they came.
    async fn chunked(&mut self) -> (Vec<u8>, String) {
        let mut body = Vec::new();
        let mut wire = String::new();
        loop {
            let size_line = self.line("a chunk size").await;
            wire.push_str(&size_line);
            wire.push_str("\r\n");
            let size_text = size_line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16)
                .unwrap_or_else(|_| panic!("bad chunk size line {size_line:?}; so far {wire:?}"));
            if size == 0 {
                loop {
                    let trailer = self.line("the trailer section").await;
                    wire.push_str(&trailer);
                    wire.push_str("\r\n");
                    if trailer.is_empty() {
                        return (body, wire);
                    }
                }
            }
            let data = self.take(size + 2, "chunk data").await;
            assert_eq!(&data[size..], b"\r\n", "chunk data not followed by CRLF");
            body.extend_from_slice(&data[..size]);
            wire.push_str(&String::from_utf8_lossy(&data));
        }
    }

    /// Takes one whole response to a request other than HEAD: head, then the body its
    /// framing says (none for 1xx, 204, 304; else content-length or chunked).
    async fn response(&mut self) -> (Head, Vec<u8>) {
        let head = self.head().await;
        if (100..200).contains(&head.status) || head.status == 204 || head.status == 304 {
            return (head, Vec::new());
        }
        if head
            .header("transfer-encoding")
            .is_some_and(|te| te.eq_ignore_ascii_case("chunked"))
        {
            let (body, _) = self.chunked().await;
            return (head, body);
        }
        let length: usize = head
            .header("content-length")
            .unwrap_or_else(|| panic!("neither chunked nor a length: {:?}", head.text))
            .parse()
            .expect("content-length is a number");
        let body = self.take(length, "a length-framed body").await;
        (head, body)
    }

    /// Everything until the peer closes; panics if it does not close within [`WAIT`].
    async fn until_close(&mut self) -> Vec<u8> {
        while self.fill("the connection to close").await {}
        std::mem::take(&mut self.buf)
    }

    /// The peer closes with nothing more sent.
    async fn assert_closed(&mut self, what: &str) {
        let rest = self.until_close().await;
        assert!(
            rest.is_empty(),
            "{what}: unexpected bytes before the close: {:?}",
            String::from_utf8_lossy(&rest)
        );
    }
}

/// A `GET path` request on HTTP/1.1.
fn get_req(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: a.example\r\n\r\n")
}

/// Bytes the `web` listener has read from its clients so far (after TLS; there is none here).
fn bytes_read(proxy: &TestProxy) -> u64 {
    proxy
        .proxy()
        .snapshot()
        .listener("web")
        .expect("listener web")
        .stats
        .bytes_received
        .get()
}

/// Waits until the server has read `n` bytes from its clients in all.
async fn until_read(proxy: &TestProxy, n: u64) {
    eventually(WAIT, || async { bytes_read(proxy) >= n }).await;
    assert_eq!(
        bytes_read(proxy),
        n,
        "the server read more than the client sent"
    );
}

/// One backend answering everything.
fn proxy_to(backend: &TestBackend) -> TestProxy {
    TestProxy::start(&single(1, "round_robin", &[backend], ""))
}

/// Routes only `/app/...` to `backend`: anything else is shoal's own 404.
fn proxy_with_app_prefix(backend: &TestBackend) -> TestProxy {
    TestProxy::start(&config(
        1,
        "",
        &format!(
            "{}{}",
            route("{ path_prefix = \"/app/\" }", "upstream = \"app\"", ""),
            upstream("app", "round_robin", &[backend], "")
        ),
    ))
}

/// A backend on raw sockets, for responses a hyper server would not send: it reads request
/// heads (requests must have no body) and answers each with `answer` as given, then closes
/// if `close_after`, else waits for the next request. It records the heads it read.
struct RawBackend {
    addr: SocketAddr,
    heads: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl Drop for RawBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RawBackend {
    async fn start(answer: &'static [u8], close_after: bool) -> RawBackend {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let heads = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&heads);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let recorded = Arc::clone(&recorded);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head: Vec<u8> = buf.drain(..end + 4).collect();
                            recorded
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .push(String::from_utf8_lossy(&head).into_owned());
                            if stream.write_all(answer).await.is_err() || close_after {
                                return;
                            }
                        }
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                });
            }
        });
        RawBackend { addr, heads, task }
    }

    fn heads(&self) -> Vec<String> {
        self.heads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Listener `web` sending everything to this backend.
    fn proxy(&self) -> TestProxy {
        TestProxy::start(&config(
            1,
            "",
            &format!(
                "{}[upstreams.app]\nbackends = [\"{}\"]\n",
                route("", "upstream = \"app\"", ""),
                self.addr
            ),
        ))
    }
}

/// A chunked answer of unknown length: `hello world` in two chunks, no Date.
const CHUNKED_ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\
      X-Raw: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";

/// True for an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn is_imf_fixdate(value: &str) -> bool {
    let parts: Vec<&str> = value.split(' ').collect();
    let days = ["Mon,", "Tue,", "Wed,", "Thu,", "Fri,", "Sat,", "Sun,"];
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let time = |s: &str| {
        let t: Vec<&str> = s.split(':').collect();
        t.len() == 3 && t.iter().all(|p| digits(p, 2))
    };
    parts.len() == 6
        && days.contains(&parts[0])
        && digits(parts[1], 2)
        && months.contains(&parts[2])
        && digits(parts[3], 4)
        && time(parts[4])
        && parts[5] == "GMT"
}

// ----- 1. Expect: 100-continue -----

#[tokio::test]
async fn expect_100_continue_is_answered_before_the_body_is_sent() {
    let backend = TestBackend::http().name("b").await;
    let proxy = proxy_to(&backend);
    let mut wire = Wire::connect(proxy.addr()).await;
    wire.send(
        b"POST /upload HTTP/1.1\r\nHost: a.example\r\nExpect: 100-continue\r\n\
          Content-Length: 11\r\n\r\n",
    )
    .await;
    // Nothing of the body is sent before the go-ahead: a server that waits for it hangs.
    let interim = wire.head().await;
    assert_eq!(
        interim.text, "HTTP/1.1 100 Continue\r\n\r\n",
        "the interim answer, exactly"
    );
    assert_eq!(
        backend.hits(),
        0,
        "the backend cannot have a whole request yet"
    );

    wire.send(b"hello world").await;
    let (head, body) = wire.response().await;
    assert_eq!(head.status, 200, "{:?}", head.text);
    assert_eq!(body, b"b");
    let seen = backend.last_request().expect("recorded");
    assert_eq!(seen.method, http::Method::POST);
    assert_eq!(seen.uri, "/upload");
    assert_eq!(seen.body, "hello world", "the backend got the whole body");

    // The connection goes on, and no second 100 turns up in front of the next answer.
    wire.send(get_req("/next").as_bytes()).await;
    let (head, body) = wire.response().await;
    assert_eq!(head.status, 200, "{:?}", head.text);
    assert_eq!(body, b"b");
    assert_eq!(backend.hits(), 2);
}

#[tokio::test]
async fn expect_100_continue_refused_before_the_body_gets_no_100_and_closes() {
    let backend = TestBackend::http().name("b").await;
    let proxy = proxy_with_app_prefix(&backend);
    let mut wire = Wire::connect(proxy.addr()).await;
    wire.send(
        b"POST /nowhere HTTP/1.1\r\nHost: a.example\r\nExpect: 100-continue\r\n\
          Content-Length: 11\r\n\r\n",
    )
    .await;
    let (head, body) = wire.response().await;
    assert_eq!(
        head.status, 404,
        "the final status comes first, no 100: {:?}",
        head.text
    );
    assert_error_body(
        404,
        &String::from_utf8_lossy(&body),
        head.header("x-request-id"),
        "no route matches",
    );
    // RFC 9110 §10.1.1: a server answering before reading the content SHOULD say whether it
    // will close; shoal closes (the body never came), so the answer must announce it.
    assert_eq!(
        head.header("connection"),
        Some("close"),
        "a final answer sent without reading the announced body must say the connection \
         closes: {:?}",
        head.text
    );
    wire.assert_closed("the unread body cannot be skipped")
        .await;
    assert_eq!(backend.hits(), 0);
    assert_still_serving_app(&proxy).await;
}

#[tokio::test]
async fn refused_post_with_its_body_still_coming_is_told_close_and_closed() {
    let backend = TestBackend::http().name("b").await;
    let proxy = proxy_with_app_prefix(&backend);
    let mut wire = Wire::connect(proxy.addr()).await;
    // 1 000 of 100 000 announced bytes: the rest cannot be skipped, the connection ends.
    let mut request =
        b"POST /nowhere HTTP/1.1\r\nHost: a.example\r\nContent-Length: 100000\r\n\r\n".to_vec();
    request.extend_from_slice(&[b'x'; 1000]);
    wire.send(&request).await;
    let (head, _) = wire.response().await;
    assert_eq!(head.status, 404, "{:?}", head.text);
    assert_eq!(
        head.header("connection"),
        Some("close"),
        "the answer must say the connection closes (RFC 9112 §9.6): {:?}",
        head.text
    );
    wire.assert_closed("the unread body cannot be skipped")
        .await;
    assert_eq!(backend.hits(), 0);
    assert_still_serving_app(&proxy).await;
}

/// Like `assert_still_serving` for a proxy that only routes `/app/`.
async fn assert_still_serving_app(proxy: &TestProxy) {
    let mut wire = Wire::connect(proxy.addr()).await;
    wire.send(get_req("/app/check").as_bytes()).await;
    let (head, _) = wire.response().await;
    assert_eq!(
        head.status, 200,
        "follow-up on a new connection: {:?}",
        head.text
    );
}

// ----- 2. HEAD -----

#[tokio::test]
async fn head_gets_the_backend_length_without_body_bytes_and_the_connection_goes_on() {
    let backend = TestBackend::http().name("b").body("hello world").await;
    let proxy = proxy_to(&backend);
    let mut wire = Wire::connect(proxy.addr()).await;
    wire.send(b"HEAD /h HTTP/1.1\r\nHost: a.example\r\n\r\n")
        .await;
    let head = wire.head().await;
    assert_eq!(head.status, 200, "{:?}", head.text);
    assert_eq!(
        head.all("content-length"),
        ["11"],
        "the length a GET would have had: {:?}",
        head.text
    );
    assert_eq!(head.header("transfer-encoding"), None, "{:?}", head.text);
    assert_eq!(head.header("connection"), None, "{:?}", head.text);
    assert_eq!(
        backend.last_request().expect("recorded").method,
        http::Method::HEAD
    );

    // Any body byte after the HEAD answer would now sit in front of the next status line.
    wire.send(get_req("/g").as_bytes()).await;
    let (head, body) = wire.response().await;
    assert_eq!(head.status, 200, "{:?}", head.text);
    assert_eq!(body, b"hello world");
    assert!(
        wire.buf.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&wire.buf)
    );
    assert_eq!(backend.hits(), 2);
}

#[tokio::test]
async fn head_to_a_backend_of_unknown_length_invents_no_length() {
    // What a server that streams its GETs answers to HEAD: no length at all.
    let backend = RawBackend::start(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Raw: head\r\n\r\n",
        false,
    )
    .await;
    let proxy = backend.proxy();
    let mut wire = Wire::connect(proxy.addr()).await;
    wire.send(b"HEAD /h HTTP/1.1\r\nHost: a.example\r\n\r\n")
        .await;
    let head = wire.head().await;
    assert_eq!(head.status, 200, "{:?}", head.text);
    assert_eq!(head.header("x-raw"), Some("head"), "{:?}", head.text);
    assert_eq!(
        head.header("content-length"),
        None,
        "the GET's length is unknown; a HEAD answer must not claim one: {:?}",
        head.text
    );
    assert!(backend.heads()[0].starts_with("HEAD /h HTTP/1.1\r\n"));

    wire.send(b"HEAD /again HTTP/1.1\r\nHost: a.example\r\n\r\n")
        .await;
    let head = wire.head().await;
    assert_eq!(head.status, 200, "the connection goes on: {:?}", head.text);
    assert_eq!(backend.heads().len(), 2);
}

#[tokio::test]
async fn head_to_an_answer_shoal_gives_itself_has_no_body() {
    let backend = TestBackend::http().name("b").await;
    let proxy = proxy_with_app_prefix(&backend);
    let mut wire = Wire::connect(proxy.addr()).await;
    wire.send(b"HEAD /nowhere HTTP/1.1\r\nHost: a.example\r\n\r\n")
        .await;
    let head = wire.head().await;
    assert_eq!(head.status, 404, "{:?}", head.text);
    assert_eq!(head.header("transfer-encoding"), None, "{:?}", head.text);
    wire.send(get_req("/app/next").as_bytes()).await;
    let (head, body) = wire.response().await;
    assert_eq!(
        head.status, 200,
        "no 404 body bytes in front: {:?}",
        head.text
    );
    assert_eq!(body, b"b");
    assert_eq!(backend.hits(), 1);
}

// ----- 3. HTTP/1.0 -----

#[tokio::test]
async fn http10_without_keep_alive_is_told_close_and_closed() {
    let backend = TestBackend::http().name("b").await;
    let proxy = proxy_to(&backend);
    let mut wire = Wire::connect(proxy.addr()).await;
    wire.send(b"GET /old HTTP/1.0\r\nHost: a.example\r\n\r\n")
        .await;
    let (head, body) = wire.response().await;
    assert_eq!(head.status, 200, "{:?}", head.text);
    assert_eq!(body, b"b");
    assert_eq!(head.header("content-length"), Some("1"), "{:?}", head.text);
    assert_eq!(head.all("connection"), ["close"], "{:?}", head.text);
    wire.assert_closed("HTTP/1.0 without keep-alive").await;
}

#[tokio::test]
async fn http10_with_keep_alive_serves_the_next_request() {
    let backend = TestBackend::http().name("b").await;
    let proxy = proxy_to(&backend);
    let mut wire = Wire::connect(proxy.addr()).await;
    for path in ["/one", "/two"] {
        wire.send(
            format!("GET {path} HTTP/1.0\r\nHost: a.example\r\nConnection: keep-alive\r\n\r\n")
                .as_bytes(),
        )
        .await;
        let (head, body) = wire.response().await;
        assert_eq!(head.status, 200, "{path}: {:?}", head.text);
        assert_eq!(body, b"b", "{path}");
        assert_eq!(
            head.all("connection"),
            ["keep-alive"],
            "{path}: an HTTP/1.0 client needs keep-alive said: {:?}",
            head.text
        );
        assert_eq!(head.header("content-length"), Some("1"), "{:?}", head.text);
    }
    // The last one without keep-alive ends it.
    wire.send(b"GET /three HTTP/1.0\r\nHost: a.example\r\n\r\n")
        .await;
    let (head, _) = wire.response().await;
    assert_eq!(head.status, 200);
    assert_eq!(head.all("connection"), ["close"], "{:?}", head.text);
    wire.assert_closed("HTTP/1.0 after keep-alive").await;
    let paths: Vec<String> = backend
        .requests()
        .iter()
        .map(|r| r.uri.to_string())
        .collect();
    assert_eq!(paths, ["/one", "/two", "/three"]);
}

// ----- 4. Bodies of unknown length -----

#[tokio::test]
async fn chunked_backend_answer_reaches_an_http11_client_chunked() {
    let backend = RawBackend::start(CHUNKED_ANSWER, false).await;
    let proxy = backend.proxy();
    let mut wire = Wire::connect(proxy.addr()).await;
    for path in ["/first", "/second"] {
        wire.send(get_req(path).as_bytes()).await;
        let head = wire.head().await;
        assert_eq!(head.status, 200, "{path}: {:?}", head.text);
        assert_eq!(head.header("x-raw"), Some("chunked"), "{:?}", head.text);
        assert_eq!(
            head.all("transfer-encoding"),
            ["chunked"],
            "{path}: {:?}",
            head.text
        );
        assert_eq!(
            head.header("content-length"),
            None,
            "{path}: {:?}",
            head.text
        );
        assert_eq!(head.header("connection"), None, "{path}: {:?}", head.text);
        let (body, raw) = wire.chunked().await;
        assert_eq!(body, b"hello world", "{path}: chunks as sent {raw:?}");
        assert!(raw.ends_with("\r\n0\r\n\r\n"), "{path}: last chunk {raw:?}");
    }
    assert!(
        wire.buf.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&wire.buf)
    );
    assert_eq!(backend.heads().len(), 2);
}

#[tokio::test]
async fn close_delimited_backend_answer_reaches_an_http11_client_chunked() {
    let backend = RawBackend::start(
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the backend closes",
        true,
    )
    .await;
    let proxy = backend.proxy();
    let mut wire = Wire::connect(proxy.addr()).await;
    for path in ["/first", "/second"] {
        wire.send(get_req(path).as_bytes()).await;
        let head = wire.head().await;
        assert_eq!(head.status, 200, "{path}: {:?}", head.text);
        assert_eq!(
            head.all("transfer-encoding"),
            ["chunked"],
            "{path}: {:?}",
            head.text
        );
        assert_eq!(
            head.header("content-length"),
            None,
            "{path}: {:?}",
            head.text
        );
        assert_eq!(
            head.header("connection"),
            None,
            "{path}: the backend's close is its own hop's: {:?}",
            head.text
        );
        let (body, raw) = wire.chunked().await;
        assert_eq!(body, b"until the backend closes", "{path}: {raw:?}");
    }
}

#[tokio::test]
async fn chunked_backend_answer_reaches_an_http10_client_close_delimited() {
    let backend = RawBackend::start(CHUNKED_ANSWER, false).await;
    let proxy = backend.proxy();
    // Even asked for keep-alive: a body of unknown length can only end with the connection.
    for request in [
        "GET /old HTTP/1.0\r\nHost: a.example\r\n\r\n",
        "GET /old HTTP/1.0\r\nHost: a.example\r\nConnection: keep-alive\r\n\r\n",
    ] {
        let mut wire = Wire::connect(proxy.addr()).await;
        wire.send(request.as_bytes()).await;
        let head = wire.head().await;
        assert_eq!(head.status, 200, "{request:?}: {:?}", head.text);
        assert_eq!(head.header("transfer-encoding"), None, "{:?}", head.text);
        assert_eq!(head.header("content-length"), None, "{:?}", head.text);
        assert_eq!(head.all("connection"), ["close"], "{:?}", head.text);
        let body = wire.until_close().await;
        assert_eq!(
            String::from_utf8_lossy(&body),
            "hello world",
            "{request:?}: the body, then the close"
        );
    }
    assert_eq!(backend.heads().len(), 2);
}

// ----- 5. Request bodies in pieces -----

#[tokio::test]
async fn chunked_request_body_in_separate_writes_reaches_the_backend_whole() {
    let backend = TestBackend::http().name("b").await;
    let proxy = proxy_to(&backend);
    let mut wire = Wire::connect(proxy.addr()).await;
    // Cut inside the size line, inside the data, between data and CRLF, in an extension,
    // and before the final empty line: each piece is read before the next is sent.
    let pieces: [&[u8]; 8] = [
        b"POST /chunks HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"5\r\nhel",
        b"lo",
        b"\r\n1",
        b"0;name=value\r\n0123456789",
        b"abcdef\r\n3\r\n!!!\r\n0\r\n",
        b"X-Trailer: t\r\n",
        b"\r\n",
    ];
    let mut sent = 0u64;
    for piece in pieces {
        assert_eq!(
            backend.hits(),
            0,
            "the backend has a whole request before the last piece"
        );
        wire.send(piece).await;
        sent += piece.len() as u64;
        until_read(&proxy, sent).await;
    }
    let (head, body) = wire.response().await;
    assert_eq!(head.status, 200, "{:?}", head.text);
    assert_eq!(body, b"b");
    let seen = backend.last_request().expect("recorded");
    assert_eq!(seen.uri, "/chunks");
    assert_eq!(seen.body, "hello0123456789abcdef!!!");

    wire.send(get_req("/after").as_bytes()).await;
    let (head, _) = wire.response().await;
    assert_eq!(head.status, 200, "the connection goes on: {:?}", head.text);
    assert_eq!(backend.hits(), 2);
}

#[tokio::test]
async fn content_length_body_in_separate_writes_reaches_the_backend_whole() {
    let backend = TestBackend::http().name("b").await;
    let proxy = proxy_to(&backend);
    let mut wire = Wire::connect(proxy.addr()).await;
    let pieces: [&[u8]; 5] = [
        b"POST /length HTTP/1.1\r\nHost: a.ex",
        b"ample\r\nContent-Length: 26\r\n\r\n",
        b"abcdefgh",
        b"ijklmnopq",
        b"rstuvwxyz",
    ];
    let mut sent = 0u64;
    for piece in pieces {
        assert_eq!(backend.hits(), 0, "a whole request before the last piece");
        wire.send(piece).await;
        sent += piece.len() as u64;
        until_read(&proxy, sent).await;
    }
    let (head, body) = wire.response().await;
    assert_eq!(head.status, 200, "{:?}", head.text);
    assert_eq!(body, b"b");
    let seen = backend.last_request().expect("recorded");
    assert_eq!(seen.body, "abcdefghijklmnopqrstuvwxyz");
    assert_eq!(seen.header("host"), Some("a.example"));

    wire.send(get_req("/after").as_bytes()).await;
    let (head, _) = wire.response().await;
    assert_eq!(head.status, 200, "the connection goes on: {:?}", head.text);
    assert_eq!(backend.hits(), 2);
}

// ----- 6. A body the proxy never read -----

#[tokio::test]
async fn unread_body_of_a_refused_post_is_skipped_and_the_connection_goes_on() {
    let backend = TestBackend::http().name("b").await;
    let proxy = proxy_with_app_prefix(&backend);
    // The body looks like a request: if it were parsed as one, the backend would see it.
    let inner = "GET /app/smuggled HTTP/1.1\r\nHost: a.example\r\n\r\n";
    let framings = [
        format!("Content-Length: {}\r\n\r\n{inner}", inner.len()),
        format!(
            "Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{inner}\r\n0\r\n\r\n",
            inner.len()
        ),
    ];
    // The next request comes after the 404, or in the same write as the refused POST.
    for framing in &framings {
        for pipelined in [false, true] {
            let what = format!("{framing:?} (next request in the same write: {pipelined})");
            let mut wire = Wire::connect(proxy.addr()).await;
            let request = format!("POST /nowhere HTTP/1.1\r\nHost: a.example\r\n{framing}");
            let next = get_req("/app/next");
            if pipelined {
                wire.send(format!("{request}{next}").as_bytes()).await;
            } else {
                wire.send(request.as_bytes()).await;
            }
            let (head, _) = wire.response().await;
            assert_eq!(head.status, 404, "{what}: {:?}", head.text);
            assert_eq!(
                head.header("connection"),
                None,
                "{what}: the whole body was here, so the connection stays: {:?}",
                head.text
            );
            if !pipelined {
                wire.send(next.as_bytes()).await;
            }
            let (head, body) = wire.response().await;
            assert_eq!(head.status, 200, "{what}: {:?}", head.text);
            assert_eq!(body, b"b", "{what}");
            assert!(
                wire.buf.is_empty(),
                "{what}: a third answer: {:?}",
                String::from_utf8_lossy(&wire.buf)
            );
        }
    }
    let paths: Vec<String> = backend
        .requests()
        .iter()
        .map(|r| r.uri.to_string())
        .collect();
    assert_eq!(
        paths, ["/app/next"; 4],
        "only the real next requests reach the backend"
    );
}

// ----- 7. Pipelining with bodies -----

#[tokio::test]
async fn pipelined_post_with_body_then_get_are_both_answered_in_order() {
    let backend = TestBackend::http().name("b").await;
    let proxy = proxy_to(&backend);
    let get = "GET /after HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n";
    let posts = [
        "POST /post HTTP/1.1\r\nHost: a.example\r\nContent-Length: 5\r\n\r\nhello".to_string(),
        "POST /post HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\n\r\n\
         3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n"
            .to_string(),
    ];
    for post in posts {
        let before = backend.requests().len();
        let outcome = raw_exchange(proxy.addr(), format!("{post}{get}").as_bytes(), WAIT).await;
        let statuses: Vec<u16> = outcome.responses().iter().map(|r| r.status).collect();
        assert_eq!(statuses, [200, 200], "{post:?}: {:?}", outcome.text());
        assert!(outcome.closed, "{post:?}: Connection: close on the GET");
        let seen: Vec<(String, String, String)> = backend.requests()[before..]
            .iter()
            .map(|r| {
                (
                    r.method.to_string(),
                    r.uri.to_string(),
                    String::from_utf8_lossy(&r.body).into_owned(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("POST".to_string(), "/post".to_string(), "hello".to_string()),
                ("GET".to_string(), "/after".to_string(), String::new()),
            ],
            "{post:?}"
        );
    }
}

// ----- 8. Date -----

#[tokio::test]
async fn answers_without_a_date_get_one_and_a_backend_date_is_kept() {
    // shoal's own answer.
    let backend = TestBackend::http().name("b").await;
    let proxy = proxy_with_app_prefix(&backend);
    let mut wire = Wire::connect(proxy.addr()).await;
    wire.send(get_req("/nowhere").as_bytes()).await;
    let (head, _) = wire.response().await;
    assert_eq!(head.status, 404);
    let dates = head.all("date");
    assert_eq!(dates.len(), 1, "one date on shoal's 404: {:?}", head.text);
    assert!(is_imf_fixdate(dates[0]), "{:?}", dates[0]);

    // A backend answer without one (the raw backend sends none).
    let raw = RawBackend::start(CHUNKED_ANSWER, false).await;
    let proxy = raw.proxy();
    let mut wire = Wire::connect(proxy.addr()).await;
    wire.send(get_req("/").as_bytes()).await;
    let head = wire.head().await;
    let dates = head.all("date");
    assert_eq!(dates.len(), 1, "a date added: {:?}", head.text);
    assert!(is_imf_fixdate(dates[0]), "{:?}", dates[0]);

    // A backend's own Date is passed on as it is, not doubled.
    let dated = RawBackend::start(
        b"HTTP/1.1 200 OK\r\nDate: Tue, 01 Jan 2030 00:00:00 GMT\r\nContent-Length: 2\r\n\r\nok",
        false,
    )
    .await;
    let proxy = dated.proxy();
    let mut wire = Wire::connect(proxy.addr()).await;
    wire.send(get_req("/").as_bytes()).await;
    let (head, body) = wire.response().await;
    assert_eq!(body, b"ok");
    assert_eq!(
        head.all("date"),
        ["Tue, 01 Jan 2030 00:00:00 GMT"],
        "{:?}",
        head.text
    );
}

// ----- 9. 204 and 304 -----

#[tokio::test]
async fn no_content_and_not_modified_carry_no_body_and_the_connection_goes_on() {
    let no_content = TestBackend::http().name("nc").status(204).body("").await;
    let ok = TestBackend::http().name("ok").await;
    // A 304 may describe the representation's length; no body follows it all the same.
    let not_modified = RawBackend::start(
        b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 11\r\n\r\n",
        false,
    )
    .await;
    let text = config(
        1,
        "",
        &format!(
            "{}{}{}{}{}[upstreams.nm]\nbackends = [\"{}\"]\n",
            route("{ path = \"/nc\" }", "upstream = \"nc\"", ""),
            route("{ path = \"/nm\" }", "upstream = \"nm\"", ""),
            route("", "upstream = \"ok\"", ""),
            upstream("nc", "round_robin", &[&no_content], ""),
            upstream("ok", "round_robin", &[&ok], ""),
            not_modified.addr,
        ),
    );
    let proxy = TestProxy::start(&text);
    let mut wire = Wire::connect(proxy.addr()).await;

    wire.send(get_req("/nc").as_bytes()).await;
    let head = wire.head().await;
    assert_eq!(head.status, 204, "{:?}", head.text);
    assert_eq!(head.header("transfer-encoding"), None, "{:?}", head.text);
    assert_eq!(
        head.header("content-length"),
        None,
        "RFC 9110 §8.6: no Content-Length on a 204: {:?}",
        head.text
    );
    assert_eq!(head.header("connection"), None, "{:?}", head.text);

    wire.send(b"GET /nm HTTP/1.1\r\nHost: a.example\r\nIf-None-Match: \"v1\"\r\n\r\n")
        .await;
    let head = wire.head().await;
    assert_eq!(head.status, 304, "{:?}", head.text);
    assert_eq!(head.header("etag"), Some("\"v1\""), "{:?}", head.text);
    assert_eq!(head.header("transfer-encoding"), None, "{:?}", head.text);
    assert_eq!(head.header("connection"), None, "{:?}", head.text);
    assert_eq!(
        head.header("content-length"),
        Some("11"),
        "a 304's length is the representation's, passed on: {:?}",
        head.text
    );

    // Any body byte of either would sit in front of this status line.
    wire.send(get_req("/ok").as_bytes()).await;
    let (head, body) = wire.response().await;
    assert_eq!(head.status, 200, "{:?}", head.text);
    assert_eq!(body, b"ok");
    assert!(
        wire.buf.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&wire.buf)
    );
    assert_eq!(no_content.hits(), 1);
    assert_eq!(not_modified.heads().len(), 1);
}

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

/// Bytes the `web` listener has written to its clients so far.
fn bytes_written(proxy: &TestProxy) -> u64 {
    proxy
        .proxy()
        .snapshot()
        .listener("web")
        .expect("listener web")
        .stats
        .bytes_sent
        .get()
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
