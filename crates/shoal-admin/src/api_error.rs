//! [`ApiError`]: every error the admin API answers, in one JSON shape.
//!
//! `{"error": "<what is wrong>", "code": "<stable code>"}`, plus `"details": [...]` when there
//! is a list (every config error of a failed reload). Errors map to statuses here and only
//! here: axum's rejections (plain text by default) are converted, never passed through.

use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::{header, HeaderValue, StatusCode};
use serde::Serialize;

use crate::admin_server::MAX_BODY_BYTES;
use crate::control::ControlError;

/// An error answer: status, stable code, message, optional details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Vec<String>,
    /// `WWW-Authenticate` for 401s.
    challenge: Option<&'static str>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    code: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    details: &'a [String],
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
            challenge: None,
        }
    }

    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    pub(crate) fn payload_too_large() -> Self {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body larger than {MAX_BODY_BYTES} bytes"),
        )
    }

    pub(crate) fn unsupported_media_type() -> Self {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected a JSON body with Content-Type: application/json",
        )
    }

    pub(crate) fn invalid_config(details: Vec<String>) -> Self {
        ApiError {
            details,
            ..ApiError::bad_request("invalid_config", "invalid config")
        }
    }

    /// 401 with `WWW-Authenticate: Bearer ...`. `invalid` says a token was sent but is wrong
    /// (RFC 6750's `error="invalid_token"`), as opposed to none sent at all.
    pub(crate) fn unauthorized(invalid: bool) -> Self {
        let (message, challenge) = if invalid {
            (
                "invalid bearer token",
                r#"Bearer realm="shoal", error="invalid_token""#,
            )
        } else {
            (
                "missing bearer token: send Authorization: Bearer <token>",
                r#"Bearer realm="shoal""#,
            )
        };
        ApiError {
            challenge: Some(challenge),
            ..ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
        }
    }

    #[cfg(test)]
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: &self.message,
            code: self.code,
            details: &self.details,
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(challenge) = self.challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

impl From<ControlError> for ApiError {
    fn from(error: ControlError) -> Self {
        ApiError::new(error.status(), error.code(), error.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => ApiError::unsupported_media_type(),
            // Wrong types and missing fields are as malformed as bad syntax for an operator:
            // 400, not axum's 422.
            JsonRejection::JsonDataError(e) => {
                ApiError::bad_request("invalid_json", json_message("invalid JSON body", &e))
            }
            JsonRejection::JsonSyntaxError(e) => {
                ApiError::bad_request("invalid_json", json_message("malformed JSON", &e))
            }
            JsonRejection::BytesRejection(e) => ApiError::from(e),
            // `JsonRejection` is non-exhaustive.
            other => ApiError::new(other.status(), "invalid_body", other.body_text()),
        }
    }
}

/// `"<what>: <serde's message with the field path and position>"`, e.g. `invalid JSON body:
/// weight: invalid type: string "3", expected u64 at line 1 column 14`, instead of axum's
/// "Failed to deserialize the JSON body into the target type: ...".
fn json_message(what: &str, rejection: &dyn std::error::Error) -> String {
    match rejection.source() {
        Some(source) => format!("{what}: {source}"),
        None => format!("{what}: {rejection}"),
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::payload_too_large()
        } else {
            // The client stopped sending, or sent a malformed chunked body.
            ApiError::new(rejection.status(), "invalid_body", rejection.body_text())
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        // The route matched, so a failure here is a segment that is not valid UTF-8 once
        // percent-decoded (or a server bug, which `status()` reports as 500).
        let status = rejection.status();
        if status.is_server_error() {
            ApiError::internal(rejection.body_text())
        } else {
            ApiError::bad_request("invalid_path", rejection.body_text())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_errors_keep_status_and_message() {
        let error = ApiError::from(ControlError::UnknownUpstream("api".into()));
        assert_eq!(error.status(), StatusCode::NOT_FOUND);
        assert_eq!(error.code, "unknown_upstream");
        assert_eq!(error.message, "unknown upstream \"api\"");
    }

    #[test]
    fn unauthorized_carries_a_challenge() {
        let response = ApiError::unauthorized(false).into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let challenge = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
    }
}
