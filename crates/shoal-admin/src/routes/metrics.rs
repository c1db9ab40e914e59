//! `GET /metrics`: shoal's counters in the Prometheus text format (see `docs/metrics.md`),
//! behind the admin token like the API (Prometheus sends it with `authorization` /
//! `bearer_token_file` in its scrape config).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::header::{self, HeaderValue};

use super::AdminState;
use crate::api_error::ApiError;

/// The Prometheus text exposition format, version 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// 200 with [`Control::metrics`](crate::Control::metrics).
pub(super) async fn metrics(State(state): State<AdminState>) -> Result<Response, ApiError> {
    let text = state.call(|control| control.metrics()).await?;
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        text,
    )
        .into_response())
}
