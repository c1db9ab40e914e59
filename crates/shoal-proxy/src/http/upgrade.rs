//! WebSocket upgrades (RFC 6455 over HTTP/1.1), the request side: which requests are
//! upgrades, and sending one to a backend. The connection becomes a tunnel only after the
//! backend answered 101 (reliability.md §2.5; the "premature upgrade" of Pingora
//! CVE-2026-2833 is exactly the opposite): until then, and for good after any other answer,
//! the client connection stays HTTP and whatever follows is parsed as the next request.
//!
//! - An upgrade is an HTTP/1.1 `GET` with `Connection: upgrade` and `Upgrade: websocket`, a
//!   well-formed `Sec-WebSocket-Key`, `Sec-WebSocket-Version: 13`, and no body; one that
//!   names websocket but misses the rest is refused with 400. `Upgrade` naming anything else
//!   (h2c) is not an upgrade: the request goes on as ordinary HTTP with `Upgrade` stripped,
//!   as are HTTP/1.0 requests (RFC 9110 §7.8). HTTP/2's extended CONNECT (RFC 8441) is not
//!   supported: shoal does not offer SETTINGS_ENABLE_CONNECT_PROTOCOL, and CONNECT is 405.
//! - The backend is picked like any request of its upstream (the same balancer pick, so
//!   ring_hash and maglev place a user's reconnects by its `hash_key`), on a new connection:
//!   a connection that becomes a tunnel never returns to the pool, and a pooled one could hit
//!   the keep-alive race, which an upgrade cannot retry. A failed connect moves on to the
//!   next backend (nothing was sent); a sent upgrade request is never sent again.
//! - A 101 must switch to websocket (else 502). Its response goes to the client with shoal's
//!   own `Connection: upgrade` / `Upgrade: websocket`, and the tunnel ([`super::tunnel`])
//!   is left in the connection's [`TunnelSlot`] for the HTTP/1.1 server to run once it has
//!   written the 101 (`h1/server.rs`). Any other answer is relayed as an
//!   ordinary response; that backend connection is then closed, not pooled.

use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Method, Response, StatusCode, Version};
use shoal_health::Outcome;
use shoal_upstream::h1::{has_token, BackendConn, ExchangeError, HeadError, Release, ResponseBody};
use shoal_upstream::{Tried, Upstream, MAX_TRIES};

use super::body::ProxyBody;
use super::client_io::RequestActive;
use super::connection::ConnContext;
use super::error_response::ProxyError;
use super::headers::strip_hop_by_hop;
use super::pipeline::with_rng;
use super::tunnel::PendingTunnel;

const SEC_WEBSOCKET_KEY: HeaderName = HeaderName::from_static("sec-websocket-key");
const SEC_WEBSOCKET_VERSION: HeaderName = HeaderName::from_static("sec-websocket-version");

/// True when the request is a WebSocket upgrade to forward; false for every other request;
/// an error (400) for an upgrade too malformed to forward.
pub(crate) fn websocket_request(parts: &Parts) -> Result<bool, ProxyError> {
    // Only HTTP/1.1 switches protocols: HTTP/2 requests (and HTTP/1.0 ones) are never
    // upgrades, whatever they carry.
    if parts.version != Version::HTTP_11 || !parts.headers.contains_key(header::UPGRADE) {
        return Ok(false);
    }
    if !has_token(&parts.headers, &header::UPGRADE, b"websocket")
        || !has_token(&parts.headers, &header::CONNECTION, b"upgrade")
    {
        return Ok(false);
    }
    if parts.method != Method::GET {
        return Err(ProxyError::BadRequest("a WebSocket upgrade must be a GET"));
    }
    let mut keys = parts.headers.get_all(SEC_WEBSOCKET_KEY).iter();
    match (keys.next(), keys.next()) {
        (Some(key), None) if is_valid_key(key.as_bytes()) => {}
        _ => {
            return Err(ProxyError::BadRequest(
                "a WebSocket upgrade needs one valid Sec-WebSocket-Key",
            ))
        }
    }
    let mut versions = parts.headers.get_all(SEC_WEBSOCKET_VERSION).iter();
    match (versions.next(), versions.next()) {
        (Some(v), None) if v.as_bytes().trim_ascii() == b"13" => {}
        _ => {
            return Err(ProxyError::BadRequest(
                "a WebSocket upgrade needs Sec-WebSocket-Version: 13",
            ))
        }
    }
    // Body bytes before a protocol switch are a smuggling vector, and RFC 6455 has none.
    let has_body = parts.headers.contains_key(header::TRANSFER_ENCODING)
        || parts
            .headers
            .get_all(header::CONTENT_LENGTH)
            .iter()
            .any(|v| v.as_bytes().trim_ascii() != b"0");
    if has_body {
        return Err(ProxyError::BadRequest(
            "a WebSocket upgrade request has no body",
        ));
    }
    Ok(true)
}

/// Puts back the two hop-by-hop fields an upgrade travels on, after hop-by-hop stripping
/// removed them with everything `Connection` nominated.
pub(crate) fn upgrade_headers(headers: &mut HeaderMap) {
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
}

/// A `Sec-WebSocket-Key`: 16 bytes in base64, i.e. 22 base64 digits and `==` (RFC 6455
/// §4.1). What the key is, is the backend's business; a proxy refuses only junk.
fn is_valid_key(key: &[u8]) -> bool {
    let key = key.trim_ascii();
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

/// Sends a WebSocket upgrade to a backend of `upstream`. A 101 leaves the tunnel in the
/// connection's slot and answers 101; anything else is relayed as is.
pub(crate) async fn forward(
    ctx: &ConnContext,
    upstream: &Arc<Upstream>,
    parts: Parts,
    hash: Option<u64>,
    active: RequestActive,
) -> Result<Response<ProxyBody>, (ProxyError, RequestActive)> {
    let config = upstream.config();
    let permit = upstream.budget().start_request();
    let mut tried = Tried::default();
    let mut last_error: Option<ProxyError> = None;
    for _ in 0..MAX_TRIES {
        let Some(index) = with_rng(|rng| upstream.pick_next(hash, &mut tried, rng)) else {
            break;
        };
        let Some(backend) = upstream.backend(index) else {
            break;
        };
        let in_flight = backend.start_request();
        let mut conn = match BackendConn::connect(
            upstream.transport(),
            backend.addr(),
            config.connect_timeout,
        )
        .await
        {
            Ok(conn) => conn,
            Err(e) => {
                backend.record_failure();
                backend.report(Outcome::GatewayFailure);
                tracing::debug!(backend = %backend.addr(), error = %e, "connect failed (upgrade)");
                last_error = Some(ProxyError::Connect(e));
                continue;
            }
        };
        let key = || backend.key().to_string();
        let head = match conn.upgrade_within(&parts, config.response_timeout).await {
            Some(Ok(head)) => head,
            Some(Err(error)) => {
                backend.record_failure();
                let error = match error {
                    // Not a byte reached the backend: as good as a failed connect.
                    ExchangeError::Unsent { error, .. } => {
                        last_error = Some(ProxyError::UpstreamFailed {
                            backend: key(),
                            cause: error,
                        });
                        continue;
                    }
                    ExchangeError::NoResponse(cause) => ProxyError::UpstreamFailed {
                        backend: key(),
                        cause,
                    },
                    ExchangeError::BadResponse(cause) => ProxyError::BadResponse {
                        backend: key(),
                        cause,
                    },
                    ExchangeError::ClientBody(cause) => ProxyError::ClientBody(cause),
                    // An upgrade has no body to cut; kept for the match to stay whole.
                    ExchangeError::BodyTooLarge(limit) => ProxyError::BodyTooLarge(limit),
                };
                backend.report(Outcome::GatewayFailure);
                tracing::debug!(backend = %backend.addr(), error = ?error, "upgrade failed");
                return Err((error, active));
            }
            None => {
                backend.record_failure();
                backend.report(Outcome::GatewayFailure);
                let error = ProxyError::UpstreamTimeout {
                    backend: key(),
                    after: config.response_timeout,
                };
                return Err((error, active));
            }
        };
        backend.report(if head.status.is_server_error() {
            Outcome::ServerError
        } else {
            Outcome::Success
        });

        if head.status != StatusCode::SWITCHING_PROTOCOLS {
            // Refused (401, 403, 200 ...): an ordinary answer. The client connection switches
            // only on a 101 of ours, so it stays HTTP; the backend connection
            // is closed once the body is read (not reusable, no pool).
            let release = Release {
                backend: Arc::clone(backend),
                worker: ctx.worker,
                max_idle: 0,
                in_flight,
            };
            let body = ResponseBody::new(conn, head.framing, false, release);
            let mut response = Response::new(ProxyBody::backend(body, active, permit));
            *response.status_mut() = head.status;
            *response.headers_mut() = head.headers;
            strip_hop_by_hop(response.headers_mut());
            return Ok(response);
        }
        if !has_token(&head.headers, &header::UPGRADE, b"websocket") {
            backend.record_failure();
            backend.report(Outcome::GatewayFailure);
            let error = ProxyError::BadResponse {
                backend: key(),
                cause: HeadError::Malformed("101 to a protocol other than websocket"),
            };
            return Err((error, active));
        }

        let (stream, early) = conn.into_upgraded();
        let tunnel = PendingTunnel {
            backend_stream: stream,
            early,
            idle_timeout: config.ws_idle_timeout,
            open: backend.open_tunnel(),
            in_flight,
            active,
            backend: backend.addr(),
        };
        ctx.tunnel.put(tunnel);
        let mut headers = head.headers;
        strip_hop_by_hop(&mut headers);
        // A 1xx has no body, and must not claim one (RFC 9110 §8.6).
        headers.remove(header::CONTENT_LENGTH);
        upgrade_headers(&mut headers);
        let mut response = Response::new(ProxyBody::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        *response.headers_mut() = headers;
        return Ok(response);
    }
    drop(permit);
    let error = last_error.unwrap_or_else(|| ProxyError::NoBackend {
        upstream: upstream.name().to_string(),
    });
    Err((error, active))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Request;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn parts(method: &str, version: Version, headers: &[(&str, &str)]) -> Parts {
        let mut b = Request::builder()
            .method(method)
            .uri("/chat")
            .version(version);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let (parts, ()) = b.body(()).expect("request").into_parts();
        parts
    }

    fn ws(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut h = vec![
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "WebSocket"),
            ("sec-websocket-key", KEY),
            ("sec-websocket-version", "13"),
        ];
        for (k, v) in extra {
            h.retain(|(name, _)| name != k);
            if !v.is_empty() {
                h.push((*k, *v));
            }
        }
        h
    }

    fn status(result: Result<bool, ProxyError>) -> Option<u16> {
        match result {
            Ok(true) => Some(101),
            Ok(false) => None,
            Err(e) => Some(e.status().as_u16()),
        }
    }

    #[test]
    fn a_valid_upgrade_is_recognised() {
        let p = parts("GET", Version::HTTP_11, &ws(&[]));
        assert_eq!(status(websocket_request(&p)), Some(101));
        let h2 = parts("GET", Version::HTTP_2, &ws(&[]));
        assert_eq!(status(websocket_request(&h2)), None, "never over HTTP/2");
    }

    #[test]
    fn ordinary_requests_and_other_protocols_are_not_upgrades() {
        for (method, version, headers) in [
            ("GET", Version::HTTP_11, vec![("host", "a")]),
            ("GET", Version::HTTP_10, ws(&[])),
            ("GET", Version::HTTP_11, ws(&[("upgrade", "h2c")])),
            ("GET", Version::HTTP_11, ws(&[("connection", "close")])),
            ("GET", Version::HTTP_11, ws(&[("connection", "")])),
        ] {
            let p = parts(method, version, &headers);
            assert_eq!(status(websocket_request(&p)), None, "{headers:?}");
        }
    }

    #[test]
    fn malformed_upgrades_are_refused() {
        for headers in [
            ws(&[("sec-websocket-key", "")]),
            ws(&[("sec-websocket-key", "short==")]),
            ws(&[("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ!!")]),
            ws(&[("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZ*==")]),
            ws(&[("sec-websocket-version", "8")]),
            ws(&[("sec-websocket-version", "")]),
            ws(&[("content-length", "5")]),
            ws(&[("transfer-encoding", "chunked")]),
        ] {
            let p = parts("GET", Version::HTTP_11, &headers);
            assert_eq!(status(websocket_request(&p)), Some(400), "{headers:?}");
        }
        let p = parts("POST", Version::HTTP_11, &ws(&[]));
        assert_eq!(status(websocket_request(&p)), Some(400), "POST");
        let mut twice = parts("GET", Version::HTTP_11, &ws(&[]));
        twice
            .headers
            .append(SEC_WEBSOCKET_KEY, HeaderValue::from_static(KEY));
        assert_eq!(status(websocket_request(&twice)), Some(400), "two keys");
        let zero = parts("GET", Version::HTTP_11, &ws(&[("content-length", "0")]));
        assert_eq!(status(websocket_request(&zero)), Some(101), "length 0");
    }

    #[test]
    fn upgrade_headers_come_back_after_stripping() {
        let mut h = HeaderMap::new();
        h.insert("connection", HeaderValue::from_static("Upgrade, x-secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("upgrade", HeaderValue::from_static("WebSocket"));
        strip_hop_by_hop(&mut h);
        upgrade_headers(&mut h);
        assert_eq!(h["connection"], "upgrade");
        assert_eq!(h["upgrade"], "websocket");
        assert!(!h.contains_key("x-secret"));
    }
}
