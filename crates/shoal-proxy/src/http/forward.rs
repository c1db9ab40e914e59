//! Sending a request to a backend of its upstream, retrying when it is safe:
//!
//! - a failed connect, or a request not one byte of which was written, goes to another
//!   backend whatever its method, at once and outside the retry budget (it added no load);
//! - a request that was sent and failed before any response byte is retried only when its
//!   method is idempotent and it had no body (a streamed body can be sent once), up to the
//!   upstream's `retries`, within its retry budget, after a jittered backoff;
//! - a failure on a reused keep-alive connection is first retried at once on a new
//!   connection to the same backend (the backend closing an idle connection as we send is
//!   a race, not a sign of trouble);
//! - a response timeout counts like a failure after sending (idempotent, no body, within
//!   `retries` and the budget: another backend); an invalid response or a failing client
//!   body is not retried.
//!
//! HTTP/2 upstreams (`protocol = "h2"`) take one branch to `forward_h2.rs`, same rules.

use std::sync::Arc;

use http::request::Parts;
use http::{Method, Response, Version};
use shoal_config::UpstreamProtocol;
use shoal_core::loop_clock;
use shoal_health::Outcome;
use shoal_upstream::h1::{ExchangeError, Release, ResponseBody};
use shoal_upstream::{backoff, RetryPermit, Tried, Upstream, UpstreamBody, MAX_TRIES};

use super::body::ProxyBody;
use super::client_io::RequestActive;
use super::connection::ConnContext;
use super::error_response::ProxyError;
use super::forward_h2::forward_h2;
use super::gateway::Pin;
use super::headers::strip_hop_by_hop;
use super::pipeline::with_rng;

pub(super) fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

pub(crate) async fn forward(
    ctx: &ConnContext,
    upstream: &Arc<Upstream>,
    parts: Parts,
    body: UpstreamBody,
    hash: Option<u64>,
    pin: &mut Pin,
    active: RequestActive,
) -> Result<Response<ProxyBody>, (ProxyError, RequestActive)> {
    if upstream.transport().protocol() == UpstreamProtocol::H2 {
        // Boxed: the HTTP/1.1 path's future stays as small as it was.
        return Box::pin(forward_h2(ctx, upstream, parts, body, hash, pin, active)).await;
    }
    let config = upstream.config();
    let permit = upstream.budget().start_request();
    let mut body = Some(body);
    let idempotent = is_idempotent(&parts.method);
    let replayable = body.as_ref().is_some_and(UpstreamBody::is_replayable);
    let mut tried = Tried::default();
    let mut sent_retries = 0u32;
    let mut retry: Option<RetryPermit> = None;
    // Set when the next attempt goes to the same backend on a new connection.
    let mut reconnect: Option<usize> = None;
    let mut last_error: Option<ProxyError> = None;

    // Each backend once, plus at most one reconnect per backend.
    for _ in 0..2 * MAX_TRIES {
        let fresh = reconnect.is_some();
        let index = match reconnect.take() {
            Some(i) => i,
            None => match pin.next_backend(upstream, hash, &mut tried) {
                Some(i) => i,
                None => break,
            },
        };
        let Some(backend) = upstream.backend(index) else {
            break;
        };
        pin.attempt(backend);
        let in_flight = backend.start_request();
        let mut pooled = match backend
            .conn(
                ctx.worker,
                fresh,
                upstream.transport(),
                config.connect_timeout,
                config.keepalive_timeout,
            )
            .await
        {
            Ok(p) => p,
            Err(e) => {
                backend.record_failure();
                backend.report(Outcome::GatewayFailure);
                tracing::debug!(backend = %backend.addr(), error = %e, "connect failed");
                last_error = Some(ProxyError::Connect(e));
                // Nothing was sent, so moving on adds no load to any backend: no budget, no
                // backoff. The tried set bounds it (each backend once).
                continue;
            }
        };
        let Some(request_body) = body.take() else {
            break;
        };
        // The response time feeds `/metrics`, and p2c_ewma's estimate and p95_latency
        // autoscale targets when they ask for it.
        let started = loop_clock::now();
        let exchanged = pooled
            .conn
            .exchange_within(&parts, request_body, config.response_timeout)
            .await;
        let error = match exchanged {
            Some(Ok(head)) => {
                let elapsed = loop_clock::now().saturating_duration_since(started);
                backend.record_response(head.status.as_u16(), elapsed);
                backend.report(if head.status.is_server_error() {
                    Outcome::ServerError
                } else {
                    Outcome::Success
                });
                let release = Release {
                    backend: Arc::clone(backend),
                    worker: ctx.worker,
                    max_idle: config.max_idle_connections,
                    in_flight,
                };
                let response_body =
                    ResponseBody::new(pooled.conn, head.framing, head.reusable, release);
                let mut response = Response::new(ProxyBody::backend(response_body, active, permit));
                *response.status_mut() = head.status;
                *response.version_mut() = Version::HTTP_11;
                *response.headers_mut() = head.headers;
                strip_hop_by_hop(response.headers_mut());
                pin.served = Some(index);
                return Ok(response);
            }
            Some(Err(e)) => e,
            None => {
                backend.record_failure();
                backend.report(Outcome::GatewayFailure);
                last_error = Some(ProxyError::UpstreamTimeout {
                    backend: backend.key().to_string(),
                    after: config.response_timeout,
                });
                // Like nginx's `proxy_next_upstream timeout`: a stalled backend (stopped,
                // overloaded) should not fail an idempotent request another one can serve.
                // The retry budget bounds the extra load.
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
        if !matches!(
            error,
            ExchangeError::ClientBody(_) | ExchangeError::BodyTooLarge(_)
        ) {
            backend.record_failure();
            // A request that never reached the backend says nothing about it.
            if !matches!(error, ExchangeError::Unsent { .. }) {
                backend.report(Outcome::GatewayFailure);
            }
        }
        tracing::debug!(backend = %backend.addr(), %error, reused = pooled.reused, "exchange failed");
        let unsent = matches!(error, ExchangeError::Unsent { .. });
        let again = match error {
            // Nothing reached the backend: the body is intact, any method may go on.
            ExchangeError::Unsent {
                error,
                body: intact,
            } => {
                body = Some(intact);
                last_error = Some(ProxyError::UpstreamFailed {
                    backend: backend.key().to_string(),
                    cause: error,
                });
                true
            }
            ExchangeError::NoResponse(cause) => {
                last_error = Some(ProxyError::UpstreamFailed {
                    backend: backend.key().to_string(),
                    cause,
                });
                // Sent: only an idempotent request without a body may be sent again.
                if idempotent && replayable && sent_retries < config.retries {
                    body = Some(UpstreamBody::Empty);
                    sent_retries += 1;
                    true
                } else {
                    false
                }
            }
            ExchangeError::BadResponse(cause) => {
                last_error = Some(ProxyError::BadResponse {
                    backend: backend.key().to_string(),
                    cause,
                });
                false
            }
            ExchangeError::ClientBody(cause) => {
                last_error = Some(ProxyError::ClientBody(cause));
                false
            }
            ExchangeError::BodyTooLarge(limit) => {
                last_error = Some(ProxyError::BodyTooLarge(limit));
                false
            }
        };
        if !again {
            break;
        }
        if pooled.reused {
            reconnect = Some(index);
        } else if !unsent && !take_retry(upstream, &mut retry, tried.len()).await {
            break;
        }
    }
    drop(permit);
    let error = last_error.unwrap_or_else(|| ProxyError::NoBackend {
        upstream: upstream.name().to_string(),
    });
    Err((error, active))
}

/// Takes a retry permit from the budget and waits the backoff. False when the budget is
/// spent.
pub(super) async fn take_retry(
    upstream: &Arc<Upstream>,
    slot: &mut Option<RetryPermit>,
    attempt: usize,
) -> bool {
    if slot.is_none() {
        match upstream.budget().try_retry() {
            Some(p) => *slot = Some(p),
            None => return false,
        }
    }
    let unit = with_rng(|rng| rng.next_f64());
    let wait = backoff(
        upstream.config().retry_backoff,
        u32::try_from(attempt).unwrap_or(u32::MAX),
        unit,
    );
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    true
}
