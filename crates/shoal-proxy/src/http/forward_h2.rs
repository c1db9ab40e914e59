//! Sending a request to a backend of an HTTP/2 upstream (`protocol = "h2"`), with the retry
//! rules of `forward.rs` carried over to streams:
//!
//! - a failed connect (TLS and ALPN included) goes to another backend at once, outside the
//!   retry budget;
//! - a request the backend did not process — a refused stream (`REFUSED_STREAM`), a stream
//!   beyond a GOAWAY's last stream id, a request that never left shoal — is like an unsent
//!   HTTP/1.1 request: it goes again, whatever its method, first to the same backend (on a
//!   new stream, or a new connection when the old one is going away: the backend may simply
//!   be at its stream limit or restarting), then to another; with its body when hyper gave
//!   the request back or there was none;
//! - a request that failed after reaching the backend, or whose response head did not come
//!   within `response_timeout`, is retried only when idempotent and without a body, within
//!   `retries` and the budget.
//!
//! The response body streams through as the backend sends it, trailers included; a reset
//! after the response head reaches the client as an aborted response.

use std::sync::Arc;
use std::time::Instant;

use http::request::Parts;
use http::{Request, Response, Version};
use shoal_health::Outcome;
use shoal_upstream::h2::{prepare_request, H2Error, H2ResponseBody};
use shoal_upstream::{RetryPermit, Tried, Upstream, UpstreamBody, MAX_TRIES};

use super::body::ProxyBody;
use super::client_io::RequestActive;
use super::connection::ConnContext;
use super::error_response::ProxyError;
use super::forward::{is_idempotent, take_retry};
use super::gateway::Pin;
use super::headers::strip_hop_by_hop;

/// Sends of one request to the same backend after it left them unprocessed, before moving on.
const SAME_BACKEND_UNPROCESSED: u32 = 4;

pub(super) async fn forward_h2(
    ctx: &ConnContext,
    upstream: &Arc<Upstream>,
    mut parts: Parts,
    body: UpstreamBody,
    hash: Option<u64>,
    pin: &mut Pin,
    active: RequestActive,
) -> Result<Response<ProxyBody>, (ProxyError, RequestActive)> {
    let config = upstream.config();
    let transport = upstream.transport();
    let permit = upstream.budget().start_request();
    prepare_request(&mut parts, transport.is_tls());
    let mut body = Some(body);
    let idempotent = is_idempotent(&parts.method);
    let replayable = body.as_ref().is_some_and(UpstreamBody::is_replayable);
    let mut tried = Tried::default();
    let mut sent_retries = 0u32;
    let mut retry: Option<RetryPermit> = None;
    let mut last_error: Option<ProxyError> = None;
    // Set when the next attempt goes to the same backend: it did not process the last one.
    let mut again: Option<usize> = None;
    let mut unprocessed = 0u32;

    for _ in 0..2 * MAX_TRIES {
        let index = match again.take() {
            Some(i) => i,
            None => match pin.next_backend(upstream, hash, &mut tried) {
                Some(i) => {
                    unprocessed = 0;
                    i
                }
                None => break,
            },
        };
        let Some(backend) = upstream.backend(index) else {
            break;
        };
        pin.attempt(backend);
        let in_flight = backend.start_request();
        let (conn, stream) = match backend
            .h2_stream(
                ctx.worker,
                transport,
                config.connect_timeout,
                config.keepalive_timeout,
            )
            .await
        {
            Ok(pair) => pair,
            Err(e) => {
                backend.record_failure();
                backend.report(Outcome::GatewayFailure);
                tracing::debug!(backend = %backend.addr(), error = %e, "h2 connect failed");
                last_error = Some(ProxyError::Connect(e));
                continue;
            }
        };
        let Some(request_body) = body.take() else {
            break;
        };
        let started = Instant::now();
        let request = Request::from_parts(parts.clone(), request_body);
        let sent = tokio::time::timeout(config.response_timeout, conn.send(request)).await;
        let error = match sent {
            Ok(Ok(response)) => {
                backend.record_response(response.status().as_u16(), started.elapsed());
                backend.report(if response.status().is_server_error() {
                    Outcome::ServerError
                } else {
                    Outcome::Success
                });
                let (mut head, incoming) = response.into_parts();
                strip_hop_by_hop(&mut head.headers);
                head.version = Version::HTTP_11;
                let body = H2ResponseBody::new(incoming, stream, in_flight);
                pin.served = Some(index);
                return Ok(Response::from_parts(
                    head,
                    ProxyBody::h2(body, active, permit),
                ));
            }
            Ok(Err(e)) => e,
            Err(_elapsed) => {
                backend.record_failure();
                backend.report(Outcome::GatewayFailure);
                last_error = Some(ProxyError::UpstreamTimeout {
                    backend: backend.key().to_string(),
                    after: config.response_timeout,
                });
                if idempotent && replayable && sent_retries < config.retries {
                    body = Some(UpstreamBody::Empty);
                    sent_retries += 1;
                    if !take_retry(upstream, &mut retry, tried.len()).await {
                        break;
                    }
                    continue;
                }
                break;
            }
        };
        tracing::debug!(backend = %backend.addr(), %error, "h2 exchange failed");
        // The client's body went past a `limits` filter's max_body: its fault, not the
        // backend's, and not to be retried.
        if let Some(limit) = body_too_large(&error) {
            last_error = Some(ProxyError::BodyTooLarge(limit));
            break;
        }
        last_error = Some(ProxyError::UpstreamFailed {
            backend: backend.key().to_string(),
            cause: std::io::Error::other(error.to_string()),
        });
        match error {
            H2Error::Unprocessed { request, .. } => {
                // Says nothing against the backend; nothing of the request was used.
                body = request
                    .map(|r| r.into_body())
                    .or_else(|| replayable.then_some(UpstreamBody::Empty));
                if body.is_none() {
                    break;
                }
                unprocessed += 1;
                if unprocessed < SAME_BACKEND_UNPROCESSED {
                    again = Some(index);
                }
            }
            H2Error::Failed(_) => {
                backend.record_failure();
                backend.report(Outcome::GatewayFailure);
                if !(idempotent && replayable && sent_retries < config.retries) {
                    break;
                }
                body = Some(UpstreamBody::Empty);
                sent_retries += 1;
                if !take_retry(upstream, &mut retry, tried.len()).await {
                    break;
                }
            }
        }
    }
    drop(permit);
    let error = last_error.unwrap_or_else(|| ProxyError::NoBackend {
        upstream: upstream.name().to_string(),
    });
    Err((error, active))
}

/// The body limit a failed exchange ran into, if that is why it failed.
fn body_too_large(error: &H2Error) -> Option<u64> {
    let cause = match error {
        H2Error::Unprocessed { cause, .. } | H2Error::Failed(cause) => cause,
    };
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(cause);
    while let Some(e) = source {
        if let Some(too_large) = e.downcast_ref::<shoal_upstream::BodyTooLarge>() {
            return Some(too_large.0);
        }
        source = e.source();
    }
    None
}
