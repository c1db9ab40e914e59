//! [`JsonBody`]: a JSON request body, with every way it can be wrong answered as a JSON error.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::Json;
use http::{header, HeaderMap};
use serde::de::DeserializeOwned;

use crate::api_error::ApiError;

/// A JSON object request body. Wrong or missing content type → 415; malformed JSON, an array
/// where an object is expected, wrong types, missing or unknown fields → 400 naming the
/// problem (and where); larger than the body limit → 413.
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(request.headers()) {
            return Err(ApiError::unsupported_media_type());
        }
        let bytes = Bytes::from_request(request, state).await?;
        // serde reads a struct from an array of its fields in order (`[3]` for
        // `{"weight": 3}`); an API taking named fields should not.
        if bytes.trim_ascii_start().first() == Some(&b'[') {
            return Err(ApiError::bad_request(
                "invalid_json",
                "expected a JSON object, not an array",
            ));
        }
        let Json(value) = Json::<T>::from_bytes(&bytes)?;
        Ok(JsonBody(value))
    }
}

/// `application/json` or `application/<anything>+json`, parameters (`; charset=utf-8`)
/// allowed — what axum's own `Json` accepts.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json") || subtype.to_ascii_lowercase().ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        for (value, json) in [
            ("application/json", true),
            ("Application/JSON", true),
            ("application/json; charset=utf-8", true),
            ("application/json;charset=utf-8", true),
            ("application/merge-patch+json", true),
            ("text/json", false),
            ("application/jsonx", false),
            ("text/plain", false),
            ("application", false),
            ("", false),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::CONTENT_TYPE,
                value.parse().expect("valid header value"),
            );
            assert_eq!(is_json(&headers), json, "{value:?}");
        }
        assert!(!is_json(&HeaderMap::new()));
    }
}
