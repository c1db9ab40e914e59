//! A route's filters, run in the configured order. Each filter lets the request go on
//! (possibly having changed its headers or learnt something for later filters: claims, an
//! API key's name) or answers it. Before the first filter, client-sent copies of the headers
//! the chain's filters forward (claim headers) and of `x-api-key-name` are removed, so a
//! backend can trust them.

use std::sync::Arc;

use http::HeaderName;

use crate::api_key::{ApiKey, X_API_KEY_NAME};
use crate::basic_auth::{BasicAuth, Pending};
use crate::cors::Cors;
use crate::exchange::{Answer, Exchange, Rejection, RequestCtx};
use crate::filter_stats::FilterStats;
use crate::header_ops::Headers;
use crate::jwt::Jwt;
use crate::limits::Limits;
use crate::rate_limit::RateLimit;
use crate::respond::{Redirect, Respond};

/// One compiled filter.
#[derive(Debug)]
pub enum Filter {
    Jwt(Jwt),
    ApiKey(ApiKey),
    BasicAuth(BasicAuth),
    RateLimit(RateLimit),
    Limits(Limits),
    Headers(Headers),
    Cors(Cors),
    Redirect(Redirect),
    Respond(Respond),
}

impl Filter {
    /// The config's `kind` of this filter (`jwt`, `rate_limit`, ...), as metrics label it.
    pub fn kind(&self) -> &'static str {
        match self {
            Filter::Jwt(_) => "jwt",
            Filter::ApiKey(_) => "api_key",
            Filter::BasicAuth(_) => "basic_auth",
            Filter::RateLimit(_) => "rate_limit",
            Filter::Limits(_) => "limits",
            Filter::Headers(_) => "headers",
            Filter::Cors(_) => "cors",
            Filter::Redirect(_) => "redirect",
            Filter::Respond(_) => "respond",
        }
    }
}

/// The filters of one route, each with its counters.
#[derive(Debug)]
pub struct Chain {
    filters: Vec<(Arc<Filter>, Arc<FilterStats>)>,
    /// Headers no client may send to this route's backends.
    strip: Vec<HeaderName>,
}

impl Chain {
    /// A chain whose filters count into counters of their own.
    pub fn new(filters: Vec<Arc<Filter>>) -> Chain {
        Chain::with_stats(
            filters
                .into_iter()
                .map(|f| (f, Arc::new(FilterStats::default())))
                .collect(),
        )
    }

    /// A chain whose filters count into the given counters (kept by the gateway across
    /// reloads).
    pub fn with_stats(filters: Vec<(Arc<Filter>, Arc<FilterStats>)>) -> Chain {
        // `x-api-key-name` always: a backend behind any filtered route may trust it.
        let mut strip: Vec<HeaderName> = vec![X_API_KEY_NAME];
        for (filter, _) in &filters {
            if let Filter::Jwt(jwt) = &**filter {
                strip.extend(jwt.forwarded_headers().cloned());
            }
        }
        strip.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        strip.dedup();
        Chain { filters, strip }
    }

    pub fn len(&self) -> usize {
        self.filters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.filters.is_empty()
    }

    /// Runs the filters in order; `Err` is the answer the request gets instead of a backend
    /// (counted against the filter that gave it).
    pub async fn run(&self, req: &mut RequestCtx<'_>, ex: &mut Exchange) -> Result<(), Answer> {
        for name in &self.strip {
            req.parts.headers.remove(name);
        }
        for (filter, stats) in &self.filters {
            let outcome = match &**filter {
                Filter::Jwt(f) => f.apply(req, ex).map_err(Answer::from),
                Filter::ApiKey(f) => f.apply(req, ex).map_err(Answer::from),
                Filter::BasicAuth(f) => basic_auth(f, req, ex).await.map_err(Answer::from),
                Filter::RateLimit(f) => f.apply(req, ex).map_err(Answer::from),
                Filter::Limits(f) => f.apply(req, ex).map_err(Answer::from),
                Filter::Headers(f) => {
                    f.apply(req, ex);
                    Ok(())
                }
                Filter::Cors(f) => f.apply(req, ex),
                Filter::Redirect(f) => Err(f.answer(req, ex)),
                Filter::Respond(f) => Err(f.answer()),
            };
            if let Err(answer) = outcome {
                stats.record(&answer);
                return Err(answer);
            }
        }
        Ok(())
    }
}

async fn basic_auth(
    filter: &BasicAuth,
    req: &RequestCtx<'_>,
    ex: &mut Exchange,
) -> Result<(), Rejection> {
    match filter.start(req) {
        Pending::Done(Ok(())) => {
            ex.user = BasicAuth::user_of(req);
            Ok(())
        }
        Pending::Done(Err(e)) => Err(e),
        Pending::Verify(verify) => {
            // bcrypt takes milliseconds on purpose: not on the event loop.
            let (verify, ok) = match tokio::task::spawn_blocking(move || {
                let ok = verify.run();
                (verify, ok)
            })
            .await
            {
                Ok(done) => done,
                Err(_) => {
                    return Err(Rejection::new(
                        http::StatusCode::SERVICE_UNAVAILABLE,
                        "credentials could not be checked",
                    ))
                }
            };
            filter.finish(verify, ok, ex)
        }
    }
}
