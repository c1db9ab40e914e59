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

mod bodies;
mod framing;
mod stalls;
mod ws_bytes;
