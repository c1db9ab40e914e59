//! [`BearerToken`]: the admin token and the middleware that demands it.
//!
//! Every path except `/live`, `/ready` and the dashboard's static files (which hold no data:
//! the page asks for the token and sends it with each API call) needs `Authorization: Bearer <token>` when a token is
//! configured — unknown paths too, so an unauthenticated client learns nothing about routes.
//! The comparison takes the same time wherever the first wrong byte is.

use std::io;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue};

use crate::api_error::ApiError;

/// Paths answered without a token: probes for orchestrators and load balancers in front.
pub(crate) const OPEN_PATHS: [&str; 2] = ["/live", "/ready"];

/// The configured token, checked on construction like the config crate checks the token
/// file: non-empty once trimmed, visible ASCII only.
pub(crate) struct BearerToken {
    token: Box<[u8]>,
}

/// What a request's `Authorization` header amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Accepted,
    /// No `Authorization` header, or not the `Bearer` scheme.
    Missing,
    /// A bearer token that is not ours.
    Invalid,
}

impl BearerToken {
    /// Trims surrounding whitespace (a token file's final newline); refuses an empty token or
    /// one that cannot travel in a header.
    pub(crate) fn new(token: &str) -> io::Result<BearerToken> {
        let token = token.trim_ascii();
        if token.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the admin token is empty",
            ));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the admin token may only contain visible ASCII characters",
            ));
        }
        Ok(BearerToken {
            token: token.as_bytes().into(),
        })
    }

    /// Checks an `Authorization` header value: scheme `Bearer` (any case), then the token.
    pub(crate) fn verify(&self, authorization: Option<&HeaderValue>) -> Verdict {
        let Some(value) = authorization else {
            return Verdict::Missing;
        };
        let bytes = value.as_bytes().trim_ascii();
        let Some(space) = bytes.iter().position(|&b| b == b' ') else {
            return Verdict::Missing;
        };
        let (scheme, rest) = bytes.split_at(space);
        if !scheme.eq_ignore_ascii_case(b"bearer") {
            return Verdict::Missing;
        }
        if constant_time_eq(rest.trim_ascii(), &self.token) {
            Verdict::Accepted
        } else {
            Verdict::Invalid
        }
    }
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token itself.
        f.write_str("BearerToken(..)")
    }
}

/// Compares every byte of the longer input whatever the contents, so the time taken says
/// nothing about how much of a guess was right (only about the guess's own length).
fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    let len = given.len().max(expected.len());
    let mut diff = u8::from(given.len() != expected.len());
    for i in 0..len {
        let a = given.get(i).copied().unwrap_or(0);
        let b = expected.get(i).copied().unwrap_or(0);
        diff |= a ^ b;
    }
    std::hint::black_box(diff) == 0
}

/// The middleware: passes open paths and requests with the right token; 401 otherwise.
pub(crate) async fn require_token(
    State(token): State<Option<Arc<BearerToken>>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = token else {
        return next.run(request).await;
    };
    let path = request.uri().path();
    if OPEN_PATHS.contains(&path) || crate::dashboard::is_asset(path) {
        return next.run(request).await;
    }
    match token.verify(request.headers().get(header::AUTHORIZATION)) {
        Verdict::Accepted => next.run(request).await,
        Verdict::Missing => ApiError::unauthorized(false).into_response(),
        Verdict::Invalid => ApiError::unauthorized(true).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(value: &str) -> HeaderValue {
        HeaderValue::from_str(value).expect("valid header value")
    }

    #[test]
    fn tokens_are_checked_on_construction() {
        assert!(BearerToken::new("").is_err());
        assert!(BearerToken::new(" \n").is_err());
        assert!(BearerToken::new("two words").is_err());
        assert!(BearerToken::new("tök").is_err());
        let token = BearerToken::new("  s3cret\n").expect("valid");
        assert_eq!(&*token.token, b"s3cret");
        assert_eq!(format!("{token:?}"), "BearerToken(..)");
    }

    #[test]
    fn verify() {
        let token = BearerToken::new("s3cret").expect("valid");
        assert_eq!(token.verify(None), Verdict::Missing);
        assert_eq!(token.verify(Some(&header("s3cret"))), Verdict::Missing);
        assert_eq!(
            token.verify(Some(&header("Basic s3cret"))),
            Verdict::Missing
        );
        assert_eq!(
            token.verify(Some(&header("Bearer s3cret"))),
            Verdict::Accepted
        );
        assert_eq!(
            token.verify(Some(&header("bearer  s3cret "))),
            Verdict::Accepted
        );
        assert_eq!(
            token.verify(Some(&header("BEARER s3cret"))),
            Verdict::Accepted
        );
        assert_eq!(
            token.verify(Some(&header("Bearer s3cre"))),
            Verdict::Invalid
        );
        assert_eq!(
            token.verify(Some(&header("Bearer s3cretx"))),
            Verdict::Invalid
        );
        assert_eq!(
            token.verify(Some(&header("Bearer S3CRET"))),
            Verdict::Invalid
        );
        assert_eq!(token.verify(Some(&header("Bearer "))), Verdict::Missing);
    }

    #[test]
    fn constant_time_eq_is_eq() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"ab", b"abc"));
        assert!(!constant_time_eq(b"abc\0", b"abc"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
