use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{ProbeError, ProbeOutcome};

/// The most we read looking for the status line. Health endpoints answer with a short
/// line; a backend sending kilobytes without a line break is broken, and a bound keeps a
/// misbehaving one from costing us memory.
pub const MAX_HEAD_BYTES: usize = 4096;

/// An HTTP check: `GET path` over a fresh plain HTTP/1.1 connection (`Connection: close`),
/// ready when the status is inside `expect` (inclusive). Only the status line is read; the
/// whole exchange (connect, write, read) must fit in `timeout`. Every failure — refused,
/// timeout, garbage, a status outside the range — is `NotReady` with a reason.
///
/// Written by hand rather than with hyper: one request, one line to parse, and no pool or
/// protocol negotiation to get in the way of judging the backend itself.
pub async fn probe_http(
    addr: SocketAddr,
    path: &str,
    host: &str,
    timeout: Duration,
    expect: (u16, u16),
) -> ProbeOutcome {
    probe_http_with(&PlainHttp, addr, path, host, timeout, expect).await
}

/// [`probe_http`] through `client`, which decides how the backend is reached (TLS, HTTP/2).
pub async fn probe_http_with<C: ProbeClient>(
    client: &C,
    addr: SocketAddr,
    path: &str,
    host: &str,
    timeout: Duration,
    expect: (u16, u16),
) -> ProbeOutcome {
    let result = match tokio::time::timeout(timeout, client.get_status(addr, path, host)).await {
        Ok(result) => result,
        Err(_elapsed) => Err(ProbeError::Timeout(timeout)),
    };
    let (lo, hi) = expect;
    let error = match result {
        Ok(status) if (lo..=hi).contains(&status) => return ProbeOutcome::Ready,
        Ok(status) => ProbeError::Status { status, lo, hi },
        Err(e) => e,
    };
    ProbeOutcome::NotReady(error.to_string())
}

/// How an HTTP probe reaches a backend and gets a status. [`PlainHttp`] is HTTP/1.1 over a
/// fresh TCP connection; the upstream layer supplies TLS or HTTP/2 for upstreams that speak
/// them (a TLS backend would otherwise look down). The caller bounds the time it takes.
pub trait ProbeClient: Sync {
    /// `GET path` with `host` as the authority: the response status, or why there is none.
    /// `path` and `host` must pass [`probe_request`]'s checks before anything is sent.
    fn get_status(
        &self,
        addr: SocketAddr,
        path: &str,
        host: &str,
    ) -> impl Future<Output = Result<u16, ProbeError>> + Send;
}

/// HTTP/1.1 over a fresh cleartext TCP connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainHttp;

impl ProbeClient for PlainHttp {
    async fn get_status(
        &self,
        addr: SocketAddr,
        path: &str,
        host: &str,
    ) -> Result<u16, ProbeError> {
        let request = probe_request(path, host)?;
        let mut stream = TcpStream::connect(addr)
            .await
            .map_err(ProbeError::Connect)?;
        read_status(&mut stream, &request).await
    }
}

/// The probe request, or why it cannot be sent.
pub fn probe_request(path: &str, host: &str) -> Result<String, ProbeError> {
    if !is_token(path) {
        return Err(ProbeError::InvalidRequest("path"));
    }
    if !is_token(host) {
        return Err(ProbeError::InvalidRequest("host"));
    }
    Ok(format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: shoal-health\r\nConnection: close\r\n\r\n"
    ))
}

/// Visible ASCII only: no spaces (they would split the request line) and no CR/LF (they
/// would start a new header).
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic())
}

/// Writes `request` (from [`probe_request`]) on `stream`, which may be TLS, and reads the
/// status of the response.
pub async fn read_status<S>(stream: &mut S, request: &str) -> Result<u16, ProbeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(ProbeError::Write)?;
    // TLS keeps the request in its buffer until flushed.
    stream.flush().await.map_err(ProbeError::Write)?;
    let mut head = Vec::with_capacity(128);
    let mut chunk = [0u8; 512];
    loop {
        let n = stream.read(&mut chunk).await.map_err(ProbeError::Read)?;
        let got = chunk.get(..n).unwrap_or_default();
        if got.is_empty() {
            return Err(if head.is_empty() {
                ProbeError::Closed
            } else {
                malformed(&head)
            });
        }
        if let Some(end) = got.iter().position(|&b| b == b'\n') {
            head.extend_from_slice(got.get(..end).unwrap_or_default());
            return parse_status_line(&head);
        }
        head.extend_from_slice(got);
        if head.len() >= MAX_HEAD_BYTES {
            return Err(ProbeError::TooLong(MAX_HEAD_BYTES));
        }
    }
}

/// The status code of an HTTP/1.x status line (`HTTP/1.1 200 OK`, with or without the
/// trailing CR and reason phrase).
pub fn parse_status_line(line: &[u8]) -> Result<u16, ProbeError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let parsed = (|| {
        let rest = line.strip_prefix(b"HTTP/1.")?;
        let (&minor, rest) = rest.split_first()?;
        let rest = rest.strip_prefix(b" ")?;
        let code = rest.get(..3)?;
        let after = rest.get(3..)?;
        if !minor.is_ascii_digit()
            || !code.iter().all(u8::is_ascii_digit)
            || !(after.is_empty() || after.starts_with(b" "))
        {
            return None;
        }
        code.iter()
            .try_fold(0u16, |acc, &d| Some(acc * 10 + u16::from(d - b'0')))
    })();
    parsed.ok_or_else(|| malformed(line))
}

fn malformed(bytes: &[u8]) -> ProbeError {
    // Bounded and lossy: it ends up in logs and the admin API.
    let shown = bytes.get(..64).unwrap_or(bytes);
    ProbeError::Malformed(String::from_utf8_lossy(shown).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK\r").ok(), Some(200));
        assert_eq!(
            parse_status_line(b"HTTP/1.0 503 Service Unavailable").ok(),
            Some(503)
        );
        assert_eq!(parse_status_line(b"HTTP/1.1 204").ok(), Some(204));
        assert_eq!(parse_status_line(b"HTTP/1.1 204\r").ok(), Some(204));
        for bad in [
            &b""[..],
            b"HTTP/1.1",
            b"HTTP/1.1 20",
            b"HTTP/1.1 2000 OK",
            b"HTTP/1.1 abc OK",
            b"HTTP/2 200",
            b"SSH-2.0-OpenSSH_9.6",
            b"http/1.1 200 OK",
            b"HTTP/1.x 200 OK",
            b"\xff\xfe\x00",
        ] {
            assert!(parse_status_line(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn request_bytes_and_refusals() {
        assert_eq!(
            probe_request("/health/ready", "10.0.0.1:80").ok().as_deref(),
            Some(
                "GET /health/ready HTTP/1.1\r\nHost: 10.0.0.1:80\r\nUser-Agent: shoal-health\r\nConnection: close\r\n\r\n"
            )
        );
        assert!(probe_request("/a b", "h").is_err());
        assert!(probe_request("/ok", "h\r\nX-Evil: 1").is_err());
        assert!(probe_request("", "h").is_err());
        assert!(probe_request("/", "").is_err());
    }

    #[test]
    fn reasons_read_well() {
        let status = ProbeError::Status {
            status: 503,
            lo: 200,
            hi: 399,
        };
        assert_eq!(status.to_string(), "HTTP 503 (expected 200-399)");
        assert_eq!(
            ProbeError::Timeout(Duration::from_millis(200)).to_string(),
            "timed out after 200ms"
        );
        assert_eq!(
            malformed(b"SSH-2.0").to_string(),
            "malformed status line \"SSH-2.0\""
        );
    }
}
