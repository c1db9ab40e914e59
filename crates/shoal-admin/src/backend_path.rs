//! [`UpstreamPath`] and [`BackendPath`]: the `{upstream}` and `{addr}` path segments, decoded
//! and validated before any [`Control`](crate::Control) method sees them.

use std::net::SocketAddr;

use axum::extract::{FromRequestParts, Path};
use http::request::Parts;

use crate::api_error::ApiError;

/// Longest piece of client input echoed back in an error message.
const MAX_ECHO: usize = 128;

/// `/api/v1/upstreams/{upstream}...`: the upstream name, percent-decoded.
pub(crate) struct UpstreamPath {
    pub(crate) upstream: String,
}

/// `/api/v1/upstreams/{upstream}/backends/{addr}...`: the upstream name and the backend's
/// socket address (`127.0.0.1:9001`, `127.0.0.1%3A9001`, `[::1]:9001`, `%5B%3A%3A1%5D%3A9001`).
pub(crate) struct BackendPath {
    pub(crate) upstream: String,
    pub(crate) addr: SocketAddr,
}

impl<S: Send + Sync> FromRequestParts<S> for UpstreamPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(upstream) = Path::<String>::from_request_parts(parts, state).await?;
        Ok(UpstreamPath { upstream })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for BackendPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path((upstream, addr)) =
            Path::<(String, String)>::from_request_parts(parts, state).await?;
        Ok(BackendPath {
            upstream,
            addr: parse_addr(&addr)?,
        })
    }
}

/// A backend address: a socket address with an explicit port, IPv6 in brackets.
pub(crate) fn parse_addr(text: &str) -> Result<SocketAddr, ApiError> {
    text.parse::<SocketAddr>().map_err(|_| {
        ApiError::bad_request(
            "invalid_address",
            format!(
                "invalid backend address {:?}: expected a socket address such as \
                 127.0.0.1:9001 or [::1]:9001",
                truncate(text)
            ),
        )
    })
}

/// At most [`MAX_ECHO`] characters of `text`, so a hostile input is not mirrored whole.
pub(crate) fn truncate(text: &str) -> &str {
    match text.char_indices().nth(MAX_ECHO) {
        Some((cut, _)) => &text[..cut],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        for ok in ["127.0.0.1:9001", "[::1]:9001", "10.0.0.1:0", "[0:0::1]:80"] {
            assert!(parse_addr(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "127.0.0.1",
            "localhost:80",
            "::1:80",
            "127.0.0.1:99999",
            "10.0.0:80",
            "[::1]",
        ] {
            assert!(parse_addr(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn truncate_keeps_short_text_and_cuts_on_char_boundaries() {
        assert_eq!(truncate("abc"), "abc");
        let long = "é".repeat(500);
        assert_eq!(truncate(&long).chars().count(), MAX_ECHO);
    }
}
