//! Where the gateway meets the request path (`pipeline.rs` calls in here only for routes
//! that name filters, and for sticky upstreams):
//!
//! - [`on_request`], after routing and before the upstream is chosen: runs the route's
//!   filter chain, then prepares the body (cut at the `limits` body size; read whole and
//!   validated when the route has a JSON Schema);
//! - [`answer`]: a filter's own answer (a refusal rendered like shoal's errors, or a reply);
//! - [`on_response`]: the headers the filters decided for the response (rate-limit, CORS,
//!   header edits), on the backend's answer and on shoal's own alike;
//! - [`Pin`] and [`stick`]: a sticky upstream's cookie picks the first backend tried, and
//!   the response re-issues it when another backend served.

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Response, StatusCode};
use http_body_util::BodyExt;
use shoal_gateway::{Affinity, Answer, Chain, Exchange, Reply, RequestCtx, StickyTable};
use shoal_upstream::{BackendState, Tried, Upstream, UpstreamBody};

use super::body::ProxyBody;
use super::client_io::RequestActive;
use super::connection::ConnContext;
use super::error_response::ProxyError;
use super::pipeline::with_rng;

/// A request the filters let through: what they learnt, and the body to forward.
pub(crate) struct Passed {
    pub exchange: Exchange,
    pub body: UpstreamBody,
}

/// A request the filters (or its body's checks) answered.
pub(crate) struct Stopped {
    pub exchange: Exchange,
    pub answer: Stop,
}

pub(crate) enum Stop {
    Error(ProxyError),
    Reply(Reply),
}

/// Runs `chain` on the request, then readies its body.
pub(crate) async fn on_request(
    chain: &Chain,
    ctx: &ConnContext,
    parts: &mut Parts,
    body: UpstreamBody,
    request_id: &HeaderValue,
    host: Option<&str>,
    route: &str,
) -> Result<Passed, Stopped> {
    // `Connection: x-user-id` must not be able to delete what the filters add: nominated
    // fields go now, before the filters run (the rest of hop-by-hop hygiene follows later,
    // as on every route).
    remove_nominated(&mut parts.headers);
    let mut exchange = Exchange::default();
    let outcome = {
        let mut req = RequestCtx {
            parts,
            peer: ctx.peer.ip(),
            request_id,
            host,
            route,
        };
        chain.run(&mut req, &mut exchange).await
    };
    if let Err(answer) = outcome {
        let answer = match answer {
            Answer::Reject(rejection) => Stop::Error(ProxyError::Gateway(rejection)),
            Answer::Reply(reply) => Stop::Reply(reply),
        };
        return Err(Stopped { exchange, answer });
    }
    let body = match (&exchange.schema, exchange.body_limit) {
        (Some(schema), Some(limit)) => match validated(body, limit, schema).await {
            Ok(bytes) => {
                parts
                    .headers
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
                UpstreamBody::Full(bytes)
            }
            Err(error) => {
                return Err(Stopped {
                    exchange,
                    answer: Stop::Error(error),
                })
            }
        },
        (_, Some(limit)) => body.limited(limit),
        _ => body,
    };
    Ok(Passed { exchange, body })
}

/// Reads the whole body (at most `limit` bytes) and checks it against `schema`.
async fn validated(
    body: UpstreamBody,
    limit: u64,
    schema: &shoal_gateway::Schema,
) -> Result<Bytes, ProxyError> {
    let mut body = match body {
        UpstreamBody::Stream(incoming) => incoming,
        // No body: validate the empty document (it is not JSON).
        _ => return check_json(Bytes::new(), schema),
    };
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(ProxyError::ClientBody)?;
        if let Ok(data) = frame.into_data() {
            if (buf.len() + data.len()) as u64 > limit {
                return Err(ProxyError::BodyTooLarge(limit));
            }
            buf.extend_from_slice(&data);
        }
    }
    check_json(buf.freeze(), schema)
}

fn check_json(bytes: Bytes, schema: &shoal_gateway::Schema) -> Result<Bytes, ProxyError> {
    match schema.check_body(&bytes) {
        Ok(()) => Ok(bytes),
        Err(why) => Err(ProxyError::Gateway(shoal_gateway::Rejection::new(
            StatusCode::BAD_REQUEST,
            why,
        ))),
    }
}

/// Removes the fields a `Connection` header nominates, and their nominations, except the
/// hop-by-hop fields themselves (`Upgrade`, `TE`, ... stay for the rest of hop-by-hop
/// hygiene, which runs later on every route) and the fields shoal manages.
fn remove_nominated(headers: &mut HeaderMap) {
    if !headers.contains_key(header::CONNECTION) {
        return;
    }
    let tokens: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    let (kept, nominated): (Vec<String>, Vec<String>) = tokens.into_iter().partition(|t| {
        matches!(
            t.as_str(),
            "upgrade"
                | "te"
                | "keep-alive"
                | "close"
                | "transfer-encoding"
                | "content-length"
                | "host"
                | "x-forwarded-for"
                | "x-forwarded-proto"
                | "x-forwarded-host"
                | "x-request-id"
                | "forwarded"
        )
    });
    if nominated.is_empty() {
        return;
    }
    for name in &nominated {
        if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
            headers.remove(name);
        }
    }
    headers.remove(header::CONNECTION);
    if let Ok(value) = HeaderValue::from_str(&kept.join(", ")) {
        if !kept.is_empty() {
            headers.insert(header::CONNECTION, value);
        }
    }
}

/// The response for a request the gateway answered.
/// What a filter decided, for the access log: the refusal's cause, or the reply it gave.
pub(crate) fn verdict(stopped: &Stopped) -> String {
    match &stopped.answer {
        Stop::Error(ProxyError::Gateway(rejection)) => {
            format!("{} {}", rejection.status.as_u16(), rejection.cause)
        }
        Stop::Error(error) => format!("{} {}", error.status().as_u16(), error.cause()),
        Stop::Reply(reply) => format!("reply {}", reply.status.as_u16()),
    }
}

pub(crate) fn answer(
    stopped: Stopped,
    request_id: &HeaderValue,
    active: RequestActive,
) -> Response<ProxyBody> {
    let mut response = match stopped.answer {
        Stop::Error(error) => error.response(request_id, active),
        Stop::Reply(reply) => {
            let mut response = Response::new(ProxyBody::text(reply.body, Some(active)));
            *response.status_mut() = reply.status;
            let headers = response.headers_mut();
            for (name, value) in reply.headers {
                headers.append(name, value);
            }
            headers.insert("x-request-id", request_id.clone());
            response
        }
    };
    on_response(&stopped.exchange, &mut response);
    response
}

/// Applies the filters' response headers.
pub(crate) fn on_response(exchange: &Exchange, response: &mut Response<ProxyBody>) {
    exchange.apply_response(response.headers_mut());
}

/// A sticky upstream's choice for one request: the backend its cookie names (tried first
/// while eligible), and the backend that served.
#[derive(Debug, Default)]
pub(crate) struct Pin {
    pub preferred: Option<usize>,
    pub served: Option<usize>,
    /// Backends (or reconnects) tried for this request: 1 without retries (the access log).
    pub attempts: u32,
}

impl Pin {
    /// The cookie's backend, once, if it may take traffic now (ready, not draining, not
    /// ejected); recorded as tried.
    pub(crate) fn take_preferred(
        &mut self,
        upstream: &Upstream,
        tried: &mut Tried,
    ) -> Option<usize> {
        let index = self.preferred.take()?;
        let eligible = upstream.backend(index).is_some_and(|b| b.is_eligible());
        (eligible && tried.push(index)).then_some(index)
    }

    /// The backend to try next: the cookie's first (once, while it may take traffic), else
    /// the balancer's pick among those not tried yet. Shared by the HTTP/1.1 and HTTP/2
    /// forwarding loops.
    pub(crate) fn next_backend(
        &mut self,
        upstream: &Upstream,
        hash: Option<u64>,
        tried: &mut Tried,
    ) -> Option<usize> {
        self.take_preferred(upstream, tried)
            .or_else(|| with_rng(|rng| upstream.pick_next(hash, tried, rng)))
    }

    /// Counts an attempt on `backend`; every one after the first is a retry (`/metrics`).
    pub(crate) fn attempt(&mut self, backend: &BackendState) {
        self.attempts += 1;
        if self.attempts > 1 {
            backend.record_retry();
        }
    }
}

/// Sets the affinity cookie unless the request's own, still fresh, named the backend that
/// served.
pub(crate) fn stick(
    table: &StickyTable,
    affinity: Affinity,
    pin: &Pin,
    response: &mut Response<ProxyBody>,
) {
    let Some(served) = pin.served else { return };
    if affinity.fresh && affinity.backend == Some(served) {
        return;
    }
    if let Some(cookie) = table.set_cookie(served) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
}
