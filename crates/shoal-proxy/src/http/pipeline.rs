//! The request path, top to bottom (DESIGN.md §1.4):
//!
//! 1. load the snapshot (the request keeps it to the end)
//! 2. request id: the client's, or a new one
//! 3. find the route (invalid Host → 400, none → 404); an http listener with
//!    `redirect_https` answers 308 to the https URL instead
//! 4. gateway filters, only on routes that name some (`gateway.rs`): any may answer; the
//!    body gets its limit (or is read whole and validated against a JSON Schema)
//! 5. choose the upstream (a split rolls the dice)
//! 6. rewrite the path; clean and add headers (forwarded-for, request id, traceparent)
//! 7. forward: pick a backend (none eligible → 503; a sticky cookie's backend first),
//!    send, retry when safe (`forward.rs`); a WebSocket upgrade goes through the same
//!    pick to `upgrade.rs` instead
//! 8. response: the filters' response headers and the sticky cookie, on the backend's
//!    answer and shoal's own alike
//! 9. record ([`handle`], around all of the above): the listener's and route's counters, and
//!    with `[access_log]` the line the response body writes when it is done

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use shoal_balance::Rng;
use shoal_core::loop_clock;
use shoal_router::{normalize_host, rewrite_path, RequestView};

use shoal_upstream::{Upstream, UpstreamBody};

use super::body::{PendingLog, ProxyBody};
use super::client_io::RequestActive;
use super::connection::ConnContext;
use super::error_response::{redirect, ProxyError};
use super::forward;
use super::gateway;
use super::headers::{add_forwarded, strip_hop_by_hop, X_REQUEST_ID};
use super::request_check;
use super::request_id;
use super::request_key;
use super::trace_context::{self, TRACEPARENT, TRACESTATE};
use super::upgrade;
use crate::access_log::AccessRecord;
use crate::snapshot::{RouteStats, Target};

thread_local! {
    /// Each worker thread's random source for balancers and splits: no sharing, no lock.
    static RNG: RefCell<Rng> = RefCell::new(Rng::new(seed()));
}

fn seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let thread = std::thread::current().id();
    t ^ shoal_balance::hash_bytes(format!("{thread:?}").as_bytes())
}

/// Runs `f` with this thread's random source.
pub(crate) fn with_rng<T>(f: impl FnOnce(&mut Rng) -> T) -> T {
    RNG.with(|rng| f(&mut rng.borrow_mut()))
}

/// `https://HOST[:PORT]/path?query` for a request to `host` (normalised, without its port)
/// and `uri`. None when the result is not a valid header value.
fn https_location(host: &str, to: shoal_config::RedirectHttps, uri: &Uri) -> Option<HeaderValue> {
    // `OPTIONS *` and the like have no path to keep.
    let target = uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .filter(|t| t.starts_with('/'))
        .unwrap_or("/");
    let location = match to.port {
        Some(port) => format!("https://{host}:{port}{target}"),
        None => format!("https://{host}{target}"),
    };
    HeaderValue::from_str(&location).ok()
}

/// What the request path learnt that the end of [`handle`] records: the route's counters
/// always (metrics), the rest only when the request may be access-logged.
#[derive(Default)]
pub(crate) struct Note {
    route_stats: Option<Arc<RouteStats>>,
    logging: bool,
    request_id: Option<HeaderValue>,
    trace_id: u128,
    route: Option<String>,
    upstream: Option<Arc<Upstream>>,
    backend: Option<std::net::SocketAddr>,
    upstream_duration: Option<Duration>,
    /// A gateway filter's answer in place of the backend's.
    verdict: Option<String>,
    attempts: u32,
}

/// Serves one request, then counts it on its route and, with `[access_log]`, hands the
/// response body the log line to write when it is done. (The HTTP/1.1 server runs the three
/// steps itself, so that its connection future holds [`serve`]'s directly: one level of
/// future fewer to build and move per request.)
pub(crate) async fn handle(
    req: Request<UpstreamBody>,
    ctx: &ConnContext,
    active: RequestActive,
) -> Response<ProxyBody> {
    let mut recording = Recording::begin(&req, ctx);
    let mut response = serve(req, ctx, active, &mut recording.note).await;
    recording.finish(&mut response, ctx);
    response
}

/// What is recorded of a request: its start, and what the request path learns on the way.
pub(crate) struct Recording {
    started: std::time::Instant,
    log: Option<Arc<crate::access_log::AccessLog>>,
    /// Read before the request is taken apart (and rewritten); only when logging. Boxed:
    /// it is large, and only logged requests should carry it.
    record: Option<Box<AccessRecord>>,
    pub(crate) note: Note,
}

impl Recording {
    pub(crate) fn begin(req: &Request<UpstreamBody>, ctx: &ConnContext) -> Recording {
        let log = ctx.shared.access_log.load_full();
        let record = log.as_ref().map(|_| Box::new(request_record(req, ctx)));
        Recording {
            started: loop_clock::now(),
            note: Note {
                logging: log.is_some(),
                ..Note::default()
            },
            log,
            record,
        }
    }

    /// Counts the response on its route and listener, and readies its access-log line.
    pub(crate) fn finish(self, response: &mut Response<ProxyBody>, ctx: &ConnContext) {
        let Recording {
            started,
            log,
            record,
            mut note,
        } = self;
        if let Some(stats) = &note.route_stats {
            stats.record(
                response.status(),
                loop_clock::now().saturating_duration_since(started),
            );
        }
        if let Some(stats) = &ctx.listener_stats {
            stats.record(response.status());
        }
        let (Some(log), Some(mut record)) = (log, record) else {
            return;
        };
        let status = response.status().as_u16();
        if !log.wants(status, with_rng(|rng| rng.next_f64())) {
            return;
        }
        record.status = status;
        record.request_id = note
            .request_id
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        if note.trace_id != 0 {
            record.trace_id = trace_context::trace_id_hex(note.trace_id);
        }
        record.route = note.route.take().unwrap_or_default();
        if let Some(upstream) = &note.upstream {
            record.upstream = upstream.name().to_string();
        }
        record.backend = note.backend.map(|b| b.to_string()).unwrap_or_default();
        record.upstream_duration = note.upstream_duration;
        record.verdict = note.verdict.take().unwrap_or_default();
        record.attempts = note.attempts;
        response.body_mut().log_when_done(Box::new(PendingLog {
            log,
            record: *record,
            started,
        }));
    }
}

/// The access-log fields taken from the request as the client sent it.
fn request_record<B>(req: &Request<B>, ctx: &ConnContext) -> AccessRecord {
    let header = |name: header::HeaderName| {
        req.headers()
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default()
    };
    AccessRecord {
        start: Some(std::time::SystemTime::now()),
        client: Some(ctx.peer),
        listener: ctx.listener_name.to_string(),
        method: req.method().to_string(),
        target: req.uri().to_string(),
        version: match req.version() {
            Version::HTTP_10 => "HTTP/1.0",
            Version::HTTP_2 => "HTTP/2.0",
            _ => "HTTP/1.1",
        },
        host: req
            .uri()
            .authority()
            .map(|a| a.to_string())
            .unwrap_or_else(|| header(header::HOST)),
        user_agent: header(header::USER_AGENT),
        referer: header(header::REFERER),
        ..AccessRecord::default()
    }
}

pub(crate) async fn serve(
    req: Request<UpstreamBody>,
    ctx: &ConnContext,
    active: RequestActive,
    note: &mut Note,
) -> Response<ProxyBody> {
    let snapshot = ctx.shared.snapshot.load_full();
    let (mut parts, body) = req.into_parts();
    let request_id = request_id::accept_or_generate(parts.headers.get(X_REQUEST_ID));
    if note.logging {
        note.request_id = Some(request_id.clone());
    }
    let fail = |e: ProxyError, active| e.response(&request_id, active);

    let Some(listener) = snapshot.listener_at(ctx.listener_index, &ctx.listener_name) else {
        return fail(ProxyError::NoRoute, active);
    };
    if let Err(e) = request_check::check(&parts) {
        return fail(e, active);
    }
    let websocket = match upgrade::websocket_request(&parts) {
        Ok(upgrade) => upgrade,
        Err(e) => return fail(e, active),
    };
    request_check::drop_underscored(&mut parts.headers);

    // The authority of an absolute-form target wins over Host (RFC 9112 §3.2.2); HTTP/2
    // requests carry theirs in `:authority`.
    let absolute_form = parts.uri.authority().is_some();
    let mut hosts = parts.headers.get_all(header::HOST).iter();
    let host_field = hosts.next().cloned();
    if hosts.next().is_some() {
        return fail(ProxyError::BadHost, active);
    }
    let host_value = match parts.uri.authority() {
        Some(authority) => HeaderValue::from_str(authority.as_str()).ok(),
        None => host_field,
    };
    let host = match &host_value {
        Some(v) => match v.to_str().ok().and_then(normalize_host) {
            Some(h) => Some(h),
            None => return fail(ProxyError::BadHost, active),
        },
        // HTTP/1.1 requires Host (RFC 9112 §3.2); HTTP/1.0 may omit it.
        None if parts.version == Version::HTTP_11 => return fail(ProxyError::BadHost, active),
        None => None,
    };
    if let Some(to) = listener.config.redirect_https {
        let Some(location) = host
            .as_deref()
            .and_then(|h| https_location(h, to, &parts.uri))
        else {
            return fail(ProxyError::BadHost, active);
        };
        return redirect(location, &request_id, active);
    }
    let view = RequestView {
        host: host.as_deref(),
        path: parts.uri.path(),
        method: &parts.method,
        headers: &parts.headers,
    };
    let Some(route) = listener
        .table
        .find(&view)
        .and_then(|i| listener.routes.get(i))
    else {
        return fail(ProxyError::NoRoute, active);
    };
    note.route_stats = Some(Arc::clone(&route.stats));
    if note.logging {
        note.route = Some(route.name.clone());
    }

    // Gateway filters: a route without any pays this one check.
    let (body, exchange) = match &route.filters {
        None => (body, None),
        Some(chain) => {
            let host = host.as_deref();
            match gateway::on_request(chain, ctx, &mut parts, body, &request_id, host, &route.name)
                .await
            {
                Ok(passed) => (passed.body, Some(passed.exchange)),
                Err(stopped) => {
                    if note.logging {
                        note.verdict = Some(gateway::verdict(&stopped));
                    }
                    return gateway::answer(stopped, &request_id, active);
                }
            }
        }
    };

    let upstream_index = match &route.target {
        Target::Upstream(i) => *i,
        Target::Split { split, upstreams } => {
            let roll = with_rng(|rng| rng.next_u64());
            upstreams
                .get(split.pick(roll))
                .copied()
                .unwrap_or(usize::MAX)
        }
    };
    let Some(upstream) = snapshot.upstreams.get(upstream_index) else {
        return fail(ProxyError::UpstreamMissing, active);
    };
    if note.logging {
        note.upstream = Some(Arc::clone(upstream));
    }

    let hash = upstream
        .config()
        .algorithm
        .is_hashing()
        .then(|| {
            let key = upstream
                .config()
                .hash_key
                .as_ref()
                .unwrap_or(&shoal_core::HashKey::ClientIp);
            request_key::hash(key, ctx.peer.ip(), &parts.uri, &parts.headers)
        })
        .flatten();

    // The backend always gets an origin-form target: the (rewritten) path and the query.
    let rewritten = route
        .rewrite
        .as_ref()
        .and_then(|r| rewrite_path(r, parts.uri.path()));
    let target = match (rewritten, parts.uri.query()) {
        (Some(path), Some(q)) => Some(format!("{path}?{q}")),
        (Some(path), None) => Some(path),
        (None, _) if absolute_form => Some(
            parts
                .uri
                .path_and_query()
                .map_or_else(|| "/".to_string(), |pq| pq.as_str().to_string()),
        ),
        (None, _) => None,
    };
    if let Some(target) = target {
        match target.parse::<Uri>() {
            Ok(uri) => parts.uri = uri,
            Err(_) => return fail(ProxyError::BadHost, active),
        }
    }

    let te_trailers = strip_hop_by_hop(&mut parts.headers);
    if te_trailers {
        parts
            .headers
            .insert(header::TE, HeaderValue::from_static("trailers"));
    }
    if websocket {
        upgrade::upgrade_headers(&mut parts.headers);
    }
    // An absolute-form target's authority replaces Host (RFC 9112 §3.2.2); HTTP/2 requests
    // carry it only as `:authority`. Otherwise Host is there already (it is where
    // `host_value` came from).
    if let (Some(v), true) = (&host_value, absolute_form) {
        parts.headers.insert(header::HOST, v.clone());
    }
    add_forwarded(
        &mut parts.headers,
        &ctx.peer_value,
        listener.config.x_forwarded_for,
        host_value.as_ref(),
        ctx.secure,
    );
    parts.headers.insert(X_REQUEST_ID, request_id.clone());
    // One lookup for reading and replacing `traceparent`.
    let (trace_id, continued) = match parts.headers.entry(TRACEPARENT) {
        header::Entry::Occupied(mut entry) => {
            let trace = trace_context::hop(Some(entry.get()), || with_rng(|rng| rng.next_u64()));
            entry.insert(trace.header);
            (trace.trace_id, trace.continued)
        }
        header::Entry::Vacant(entry) => {
            let trace = trace_context::hop(None, || with_rng(|rng| rng.next_u64()));
            entry.insert(trace.header);
            (trace.trace_id, false)
        }
    };
    if !continued {
        parts.headers.remove(TRACESTATE);
    }
    note.trace_id = trace_id;
    parts.version = Version::HTTP_11;

    // A sticky upstream's cookie names the backend to try first.
    let sticky = snapshot.sticky.get(upstream_index).and_then(Option::as_ref);
    let affinity = sticky.map(|table| table.affinity(&parts.headers));
    let mut pin = gateway::Pin {
        preferred: affinity.and_then(|a| a.backend),
        served: None,
        attempts: 0,
    };
    let sent_at = note.logging.then(loop_clock::now);
    let result = if websocket {
        // The request has no body (checked): nothing to send but the head. Upgrades stick
        // by hash_key, not by cookie.
        // Boxed: rare, and its state (a fresh connect) should not be in every request's.
        Box::pin(upgrade::forward(ctx, upstream, parts, hash, active)).await
    } else {
        forward::forward(ctx, upstream, parts, body, hash, &mut pin, active).await
    };
    note.attempts = pin.attempts;
    if let (Some(sent_at), Ok(_)) = (sent_at, &result) {
        note.upstream_duration = Some(loop_clock::now().saturating_duration_since(sent_at));
        note.backend = pin
            .served
            .and_then(|i| upstream.backend(i))
            .map(|b| b.addr());
    }
    let mut response = match result {
        Ok(response) => response,
        Err((error, active)) => {
            if error.status() != StatusCode::NOT_FOUND {
                tracing::debug!(
                    request_id = ?request_id,
                    trace_id = %trace_context::trace_id_hex(trace_id),
                    error = ?error,
                    "request failed"
                );
            }
            fail(error, active)
        }
    };
    if let (Some(table), Some(affinity)) = (sticky, affinity) {
        gateway::stick(table, affinity, &pin, &mut response);
    }
    if let Some(exchange) = &exchange {
        gateway::on_response(exchange, &mut response);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_config::RedirectHttps;

    fn location(host: &str, port: Option<u16>, uri: &str) -> String {
        let uri: Uri = uri.parse().expect("uri");
        let value = https_location(host, RedirectHttps { port }, &uri).expect("location");
        value.to_str().expect("ascii").to_string()
    }

    #[test]
    fn https_location_keeps_path_and_query_and_sets_the_port() {
        assert_eq!(
            location("shop.example.com", None, "/a/b?x=1&y"),
            "https://shop.example.com/a/b?x=1&y"
        );
        assert_eq!(
            location("shop.example.com", Some(8443), "/"),
            "https://shop.example.com:8443/"
        );
        assert_eq!(location("[::1]", Some(8443), "/p"), "https://[::1]:8443/p");
        assert_eq!(
            location("a.test", None, "http://a.test:8080/abs?q"),
            "https://a.test/abs?q"
        );
        assert_eq!(location("a.test", None, "*"), "https://a.test/");
    }
}
