//! Comma-separated field values (`Connection: keep-alive, Upgrade`, `TE: trailers`): whether
//! one lists a token, compared case-insensitively with the spaces around it trimmed.

use http::header::{HeaderMap, HeaderName};

/// True when the field value `value` lists `token`.
pub fn lists_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|b| *b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// True when any `name` field of `headers` lists `token`.
pub fn has_token(headers: &HeaderMap, name: &HeaderName, token: &[u8]) -> bool {
    headers
        .get_all(name)
        .iter()
        .any(|v| lists_token(v.as_bytes(), token))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{self, HeaderValue};

    #[test]
    fn tokens_are_found_in_any_line_whatever_their_case() {
        assert!(lists_token(b"keep-alive, Upgrade", b"upgrade"));
        assert!(lists_token(b" close ", b"close"));
        assert!(!lists_token(b"closed", b"close"));
        assert!(!lists_token(b"", b"close"));
        let mut headers = HeaderMap::new();
        headers.append(header::CONNECTION, HeaderValue::from_static("keep-alive"));
        headers.append(header::CONNECTION, HeaderValue::from_static("x, CLOSE"));
        assert!(has_token(&headers, &header::CONNECTION, b"close"));
        assert!(!has_token(&headers, &header::TE, b"trailers"));
    }
}
