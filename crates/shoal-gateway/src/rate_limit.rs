//! `kind = "rate_limit"`: GCRA per key over a bounded key table. Refused requests get 429
//! with `Retry-After`; every answer carries `RateLimit-Limit`, `RateLimit-Remaining` and
//! `RateLimit-Reset` (IETF draft "RateLimit header fields for HTTP").
//!
//! Requests that do not carry the key (no such header, cookie, query parameter or claim)
//! share one bucket: leaving the key out must not be a way around the limit.

use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Arc;

use http::header::{HeaderName, HeaderValue, RETRY_AFTER};
use http::StatusCode;
use shoal_config::{RateKey, RateLimitConfig};

use crate::clock;
use crate::exchange::{Exchange, Rejection, RequestCtx, ResponseEdit};
use crate::gcra::{Decision, Gcra};
use crate::key_table::KeyTable;
use crate::request_key;

const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// The state a rate limit keeps across config reloads (while its config is unchanged).
#[derive(Debug)]
pub struct RateState {
    pub table: KeyTable,
    /// Random per table: clients cannot aim their key's hash at someone else's entry.
    hasher: std::hash::RandomState,
}

impl RateState {
    pub fn new(max_keys: usize) -> RateState {
        RateState {
            table: KeyTable::new(max_keys),
            hasher: std::hash::RandomState::new(),
        }
    }
}

#[derive(Debug)]
pub struct RateLimit {
    key: RateKey,
    gcra: Gcra,
    state: Arc<RateState>,
}

impl RateLimit {
    pub fn new(config: &RateLimitConfig, state: Arc<RateState>) -> RateLimit {
        RateLimit {
            key: config.key.clone(),
            gcra: Gcra::new(config.rate.count, config.rate.per, config.burst),
            state,
        }
    }

    pub fn state(&self) -> &Arc<RateState> {
        &self.state
    }

    fn key_hash(&self, req: &RequestCtx<'_>, ex: &Exchange) -> u64 {
        let h = &self.state.hasher;
        // A tag per kind of key keeps "absent" apart from every real value.
        match &self.key {
            RateKey::ClientIp => match req.peer {
                IpAddr::V4(ip) => h.hash_one((1u8, ip.octets())),
                IpAddr::V6(ip) => h.hash_one((1u8, ip.octets())),
            },
            RateKey::Route => h.hash_one((2u8, req.route)),
            RateKey::Header(name) => h.hash_one(req.parts.headers.get(name).map(|v| v.as_bytes())),
            RateKey::Cookie(name) => h.hash_one(request_key::cookie(&req.parts.headers, name)),
            RateKey::Query(name) => h.hash_one(request_key::query(&req.parts.uri, name)),
            RateKey::Claim(name) => h.hash_one(ex.claim_text(name).as_deref()),
        }
    }

    pub fn apply(&self, req: &RequestCtx<'_>, ex: &mut Exchange) -> Result<(), Rejection> {
        let key = self.key_hash(req, ex);
        let decision = self.state.table.check(&self.gcra, key, clock::now_ns());
        let headers = self.headers(&decision);
        if decision.allowed {
            ex.response_edits
                .extend(headers.into_iter().map(|(n, v)| ResponseEdit::Set(n, v)));
            return Ok(());
        }
        let mut rejection = Rejection::new(StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded");
        rejection.headers.push((
            RETRY_AFTER,
            HeaderValue::from(ceil_secs(decision.retry_after).max(1)),
        ));
        rejection.headers.extend(headers);
        Err(rejection)
    }

    fn headers(&self, d: &Decision) -> [(HeaderName, HeaderValue); 3] {
        [
            (RATELIMIT_LIMIT, HeaderValue::from(self.gcra.burst())),
            (RATELIMIT_REMAINING, HeaderValue::from(d.remaining)),
            (RATELIMIT_RESET, HeaderValue::from(ceil_secs(d.reset_after))),
        ]
    }
}

fn ceil_secs(ns: u64) -> u64 {
    ns.div_ceil(1_000_000_000)
}
