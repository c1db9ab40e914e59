//! `GET /live` and `GET /ready`: shoal's own probes, answered without a token.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::StatusCode;
use serde_json::json;

use super::AdminState;
use crate::api_error::ApiError;

/// 200 `{"status":"live"}` whenever the admin API answers at all.
pub(super) async fn live() -> Response {
    Json(json!({ "status": "live" })).into_response()
}

/// 200 `{"status":"ready"}` when [`Control::ready`](crate::Control::ready), else 503
/// `{"status":"not_ready"}`.
pub(super) async fn ready(State(state): State<AdminState>) -> Result<Response, ApiError> {
    let ready = state.call(|control| control.ready()).await?;
    Ok(if ready {
        (StatusCode::OK, Json(json!({ "status": "ready" }))).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not_ready" })),
        )
            .into_response()
    })
}
