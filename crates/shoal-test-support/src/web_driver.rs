//! [`WebDriver`]: a minimal W3C WebDriver client driving Debian's headless Chromium through
//! `chromedriver`, for the dashboard's browser tests. Just what those tests need — open a
//! page, find elements by CSS, click, type, run a script, read the browser's console log, take
//! a screenshot — over hyper and serde_json, instead of a client crate that would bring its
//! own TLS stack.
//!
//! Chromium must be installed (`/usr/bin/chromium` and `/usr/bin/chromedriver`, packages
//! `chromium` and `chromium-driver`; `scripts/test.sh` installs them). When it is not,
//! [`WebDriver::start`] fails with a message saying so: browser tests never skip.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::process::{Child, Command};

use crate::TempDir;

/// Where Debian puts them; `SHOAL_CHROMIUM` and `SHOAL_CHROMEDRIVER` override.
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Bound on chromedriver starting, and on any one command.
const START_TIMEOUT: Duration = Duration::from_secs(20);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// Ports tried when another process takes the free port first.
const PORT_ATTEMPTS: usize = 5;
/// The W3C element reference key.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A reference to an element of the current page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element(String);

impl Element {
    /// The element as a script argument for [`WebDriver::execute`] (`arguments[0]`).
    pub fn to_arg(&self) -> Value {
        json!({ ELEMENT_KEY: self.0 })
    }
}

/// A chromedriver process with one headless Chromium session. Dropping it ends the session
/// and the process.
#[derive(Debug)]
pub struct WebDriver {
    driver: Option<Child>,
    addr: SocketAddr,
    session: String,
    _profile: TempDir,
}

fn tool(env: &str, default: &str, package: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::var_os(env).map_or_else(|| PathBuf::from(default), PathBuf::from);
    if !path.exists() {
        bail!(
            "{} not found: the dashboard's browser tests need Debian's `{package}` package. Run \
             scripts/test.sh (as root it installs chromium and chromium-driver with apt-get), \
             or `apt-get install chromium chromium-driver`, or set {env} to the binary.",
            path.display()
        );
    }
    Ok(path)
}

/// A port that was free a moment ago (bound to port 0, then released).
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("bind 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

impl WebDriver {
    /// Starts chromedriver on a free port and opens a headless Chromium session with a
    /// fresh profile. The window is `width`×`height` CSS pixels.
    pub async fn start(width: u32, height: u32) -> anyhow::Result<WebDriver> {
        let chromium = tool("SHOAL_CHROMIUM", CHROMIUM, "chromium")?;
        let chromedriver = tool("SHOAL_CHROMEDRIVER", CHROMEDRIVER, "chromium-driver")?;
        let (driver, addr) = spawn_driver(&chromedriver).await?;
        let profile = TempDir::new("chromium-profile");
        let mut webdriver = WebDriver {
            driver: Some(driver),
            addr,
            session: String::new(),
            _profile: profile,
        };
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": chromium.to_string_lossy(),
                        "args": [
                            "--headless=new",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-dev-shm-usage",
                            "--no-first-run",
                            "--no-default-browser-check",
                            "--disable-extensions",
                            "--disable-background-networking",
                            format!("--window-size={width},{height}"),
                            format!("--user-data-dir={}", webdriver._profile.path().display()),
                        ],
                    },
                    "goog:loggingPrefs": { "browser": "ALL" },
                }
            }
        });
        let answer = webdriver
            .call(Method::POST, "/session", Some(capabilities))
            .await
            .context("open a Chromium session")?;
        webdriver.session = answer["sessionId"]
            .as_str()
            .ok_or_else(|| anyhow!("no sessionId in {answer}"))?
            .to_string();
        Ok(webdriver)
    }

    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// One command; the answer's `value`, or the WebDriver error as an error.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        tokio::time::timeout(
            COMMAND_TIMEOUT,
            request(self.addr, method.clone(), path, body),
        )
        .await
        .map_err(|_| anyhow!("WebDriver {method} {path}: no answer in {COMMAND_TIMEOUT:?}"))?
    }

    /// Opens `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.call(
            Method::POST,
            &self.session_path("/url"),
            Some(json!({ "url": url })),
        )
        .await?;
        Ok(())
    }

    /// The first element matching the CSS `selector`; an error when there is none.
    pub async fn find(&self, selector: &str) -> anyhow::Result<Element> {
        let value = self
            .call(
                Method::POST,
                &self.session_path("/element"),
                Some(json!({ "using": "css selector", "value": selector })),
            )
            .await?;
        element(&value)
    }

    /// Every element matching the CSS `selector` (maybe none).
    pub async fn find_all(&self, selector: &str) -> anyhow::Result<Vec<Element>> {
        let value = self
            .call(
                Method::POST,
                &self.session_path("/elements"),
                Some(json!({ "using": "css selector", "value": selector })),
            )
            .await?;
        value
            .as_array()
            .ok_or_else(|| anyhow!("elements: not a list: {value}"))?
            .iter()
            .map(element)
            .collect()
    }

    /// Clicks the element (scrolling it into view; an error when it is hidden or covered).
    pub async fn click(&self, element: &Element) -> anyhow::Result<()> {
        let path = self.session_path(&format!("/element/{}/click", element.0));
        self.call(Method::POST, &path, Some(json!({}))).await?;
        Ok(())
    }

    /// Types `text` into the element.
    pub async fn send_keys(&self, element: &Element, text: &str) -> anyhow::Result<()> {
        let path = self.session_path(&format!("/element/{}/value", element.0));
        self.call(Method::POST, &path, Some(json!({ "text": text })))
            .await?;
        Ok(())
    }

    /// The element's rendered text.
    pub async fn text(&self, element: &Element) -> anyhow::Result<String> {
        let path = self.session_path(&format!("/element/{}/text", element.0));
        let value = self.call(Method::GET, &path, None).await?;
        Ok(value.as_str().unwrap_or_default().to_string())
    }

    /// Runs `script` (a function body: `return ...;`) in the page with `args`; its result.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> anyhow::Result<Value> {
        self.call(
            Method::POST,
            &self.session_path("/execute/sync"),
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    /// The browser's console log since the last call (chromedriver's `goog:loggingPrefs`):
    /// entries with `level` (`SEVERE` for errors), `message`, `source`.
    pub async fn browser_log(&self) -> anyhow::Result<Vec<Value>> {
        let value = self
            .call(
                Method::POST,
                &self.session_path("/se/log"),
                Some(json!({ "type": "browser" })),
            )
            .await?;
        Ok(value.as_array().cloned().unwrap_or_default())
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> anyhow::Result<Vec<u8>> {
        let value = self
            .call(Method::GET, &self.session_path("/screenshot"), None)
            .await?;
        let text = value
            .as_str()
            .ok_or_else(|| anyhow!("screenshot: not a string"))?;
        decode_base64(text)
    }

    /// Saves a screenshot to `path`, creating its directory.
    pub async fn save_screenshot(&self, path: &Path) -> anyhow::Result<()> {
        let png = self.screenshot().await?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        }
        std::fs::write(path, png).with_context(|| format!("write {}", path.display()))
    }

    /// Ends the session (Chromium exits) and chromedriver.
    pub async fn quit(mut self) {
        let path = self.session_path("");
        let _ = self.call(Method::DELETE, &path, None).await;
        self.session.clear();
        if let Some(mut driver) = self.driver.take() {
            let _ = driver.kill().await;
        }
    }
}

impl Drop for WebDriver {
    fn drop(&mut self) {
        // A test that failed before `quit`: end the session anyway, so Chromium exits with it
        // (killing chromedriver alone would leave the browser behind).
        if !self.session.is_empty() {
            delete_session_blocking(self.addr, &self.session);
        }
        if let Some(driver) = &mut self.driver {
            let _ = driver.start_kill();
        }
    }
}

/// `DELETE /session/{id}` over a plain blocking socket (usable in `Drop`), bounded in time.
fn delete_session_blocking(addr: SocketAddr, session: &str) {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let request = format!(
        "DELETE /session/{session} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_ok() {
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
    }
}

/// One WebDriver request on a new connection; the answer's `value`, or its error.
async fn request(
    addr: SocketAddr,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("connect to chromedriver at {addr}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let bytes = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
    let request = Request::builder()
        .method(&method)
        .uri(path)
        .header(http::header::HOST, addr.to_string())
        .header(
            http::header::CONTENT_TYPE,
            "application/json; charset=utf-8",
        )
        .body(Full::new(bytes))?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    let json: Value = serde_json::from_slice(&body).with_context(|| {
        format!(
            "WebDriver {method} {path}: answer is not JSON: {}",
            String::from_utf8_lossy(&body)
        )
    })?;
    let value = json.get("value").cloned().unwrap_or(Value::Null);
    if !status.is_success() {
        bail!(
            "WebDriver {method} {path}: {status} {}: {}",
            value["error"].as_str().unwrap_or("error"),
            value["message"].as_str().unwrap_or_default()
        );
    }
    Ok(value)
}

fn element(value: &Value) -> anyhow::Result<Element> {
    value[ELEMENT_KEY]
        .as_str()
        .map(|id| Element(id.to_string()))
        .ok_or_else(|| anyhow!("not an element reference: {value}"))
}

/// Starts chromedriver on a free port, retrying with another port when the one picked was
/// taken in between (chromedriver has no `--port=0`).
async fn spawn_driver(chromedriver: &Path) -> anyhow::Result<(Child, SocketAddr)> {
    let mut last_error = anyhow!("chromedriver did not start");
    for _ in 0..PORT_ATTEMPTS {
        let port = free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {}", chromedriver.display()))?;
        match wait_ready(&mut child, addr).await {
            Ok(()) => return Ok((child, addr)),
            Err(e) => {
                let _ = child.kill().await;
                last_error = e;
            }
        }
    }
    Err(last_error.context(format!(
        "chromedriver did not start in {PORT_ATTEMPTS} attempts"
    )))
}

/// Waits until chromedriver answers `GET /status` with `ready`, or exits (port taken).
async fn wait_ready(child: &mut Child, addr: SocketAddr) -> anyhow::Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait()? {
            bail!(
                "chromedriver exited at start ({status}) on port {}",
                addr.port()
            );
        }
        if status_ready(addr).await {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("chromedriver not ready on {addr} within {START_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn status_ready(addr: SocketAddr) -> bool {
    let answer = tokio::time::timeout(
        Duration::from_secs(2),
        request(addr, Method::GET, "/status", None),
    )
    .await;
    matches!(answer, Ok(Ok(value)) if value["ready"].as_bool() == Some(true))
}

/// Standard base64 (with padding, whitespace ignored), as WebDriver sends screenshots.
fn decode_base64(text: &str) -> anyhow::Result<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut buffer = 0u32;
    let mut bits = 0;
    for c in text.bytes() {
        if c.is_ascii_whitespace() || c == b'=' {
            continue;
        }
        let v = value(c).ok_or_else(|| anyhow!("invalid base64 byte {c:#04x}"))?;
        buffer = (buffer << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64() {
        for (text, bytes) in [
            ("", &b""[..]),
            ("Zg==", b"f"),
            ("Zm8=", b"fo"),
            ("Zm9v", b"foo"),
            ("Zm9vYmFy", b"foobar"),
            ("iVBORw0KGgo=", b"\x89PNG\r\n\x1a\n"),
            ("+/+/", b"\xfb\xff\xbf"),
        ] {
            assert_eq!(decode_base64(text).expect(text), bytes, "{text}");
        }
        assert!(decode_base64("Zm9v!").is_err());
    }
}
