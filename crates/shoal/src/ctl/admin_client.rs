//! [`AdminClient`]: `shoal ctl`'s HTTP/1.1 client for the admin API (hyper, one connection
//! per call, bounded in time), turning every failure into a [`CtlError`] that says what to do.

use std::io;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

use super::ctl_error::CtlError;

/// Bound on connecting.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound on a whole call (the admin API itself gives up after 30 s).
const CALL_TIMEOUT: Duration = Duration::from_secs(35);

#[derive(Debug, Clone)]
pub struct AdminClient {
    /// `http://host:port`, no trailing slash: shown in messages.
    base: String,
    /// `host:port` to connect to.
    authority: String,
    token: Option<String>,
}

impl AdminClient {
    /// `admin` is `http://host:port` (a path is refused) or just `host:port`.
    pub fn new(admin: &str, token: Option<String>) -> Result<AdminClient, CtlError> {
        let text = admin.trim();
        let with_scheme = if text.contains("://") {
            text.to_string()
        } else {
            format!("http://{text}")
        };
        let bad = |why: &str| {
            CtlError::Usage(format!(
                "invalid admin API address {admin:?}: {why} (expected e.g. http://127.0.0.1:9090)"
            ))
        };
        let uri: Uri = with_scheme.parse().map_err(|_| bad("not a URL"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => return Err(bad("the admin API speaks plain HTTP, not https")),
            _ => return Err(bad("the scheme must be http")),
        }
        if uri.path() != "/" && !uri.path().is_empty() || uri.query().is_some() {
            return Err(bad("give only the scheme, host and port"));
        }
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        let port = authority.port_u16().unwrap_or(80);
        let authority = format!("{}:{port}", authority.host());
        Ok(AdminClient {
            base: format!("http://{authority}"),
            authority,
            token,
        })
    }

    #[cfg(test)]
    fn base(&self) -> &str {
        &self.base
    }

    /// `path` (already encoded) with an optional JSON body; the answer's JSON.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, CtlError> {
        match tokio::time::timeout(CALL_TIMEOUT, self.call_inner(method, path, body)).await {
            Ok(result) => result,
            Err(_) => {
                Err(self.unreachable(format!("no answer within {}s", CALL_TIMEOUT.as_secs())))
            }
        }
    }

    fn unreachable(&self, reason: String) -> CtlError {
        CtlError::Unreachable {
            url: self.base.clone(),
            reason,
        }
    }

    async fn call_inner(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, CtlError> {
        let stream = match tokio::time::timeout(
            CONNECT_TIMEOUT,
            TcpStream::connect(&self.authority),
        )
        .await
        {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(self.unreachable(io_reason(&e))),
            Err(_) => {
                return Err(self.unreachable(format!(
                    "connection timed out after {}s",
                    CONNECT_TIMEOUT.as_secs()
                )))
            }
        };
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| self.unreachable(e.to_string()))?;
        tokio::spawn(connection);
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, &self.authority)
            .header(header::ACCEPT, "application/json")
            .header(
                header::USER_AGENT,
                concat!("shoal-ctl/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(token) = &self.token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let bytes = match body {
            Some(value) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Bytes::from(value.to_string())
            }
            None => Bytes::new(),
        };
        let request = request
            .body(Full::new(bytes))
            .map_err(|e| CtlError::Usage(format!("cannot build the request: {e}")))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| self.unreachable(e.to_string()))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| self.unreachable(e.to_string()))?
            .to_bytes();
        let json: Option<Value> = serde_json::from_slice(&body).ok();
        if status.is_success() {
            return json.ok_or_else(|| {
                CtlError::Protocol(format!(
                    "{status} with a body that is not JSON: {:?}",
                    String::from_utf8_lossy(&body[..body.len().min(200)])
                ))
            });
        }
        let message = json
            .as_ref()
            .and_then(|j| j["error"].as_str())
            .map_or_else(|| status.to_string(), str::to_string);
        if status == http::StatusCode::UNAUTHORIZED {
            return Err(CtlError::Unauthorized {
                url: self.base.clone(),
                message,
                token_sent: self.token.is_some(),
            });
        }
        let details = json
            .as_ref()
            .and_then(|j| j["details"].as_array())
            .map(|list| {
                list.iter()
                    .filter_map(|d| d.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Err(CtlError::Api {
            status: status.as_u16(),
            message,
            details,
        })
    }
}

/// "connection refused", "connection timed out", ...: the OS's words, lower-cased, without
/// "(os error 111)".
fn io_reason(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        io::ErrorKind::TimedOut => "connection timed out".to_string(),
        _ => {
            let text = error.to_string();
            let text = text.split(" (os error").next().unwrap_or(&text).to_string();
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => text,
            }
        }
    }
}

/// Reads a token file like shoal does: trimmed, non-empty.
pub fn read_token(path: &Path) -> Result<String, CtlError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CtlError::Usage(format!("cannot read token file {}: {e}", path.display())))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(CtlError::Usage(format!(
            "token file {} is empty",
            path.display()
        )));
    }
    Ok(token.to_string())
}

/// A path segment: everything but unreserved characters percent-encoded (an IPv6
/// backend's brackets and colons included, which the admin API decodes).
pub fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b':') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_addresses() {
        for (given, base) in [
            ("http://127.0.0.1:9090", "http://127.0.0.1:9090"),
            ("http://127.0.0.1:9090/", "http://127.0.0.1:9090"),
            ("127.0.0.1:9091", "http://127.0.0.1:9091"),
            ("localhost:9090", "http://localhost:9090"),
            ("http://[::1]:9090", "http://[::1]:9090"),
            ("http://admin.internal", "http://admin.internal:80"),
        ] {
            let client = AdminClient::new(given, None).expect(given);
            assert_eq!(client.base(), base, "{given}");
        }
        for bad in [
            "https://127.0.0.1:9090",
            "ftp://x",
            "http://x/api",
            "http://x?y",
            "",
            "::",
        ] {
            assert!(
                matches!(AdminClient::new(bad, None), Err(CtlError::Usage(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn segments() {
        assert_eq!(segment("127.0.0.1:9001"), "127.0.0.1:9001");
        assert_eq!(segment("[::1]:9001"), "%5B::1%5D:9001");
        assert_eq!(segment("a/b c%"), "a%2Fb%20c%25");
    }

    #[test]
    fn reasons() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(io_reason(&refused), "connection refused");
    }
}
