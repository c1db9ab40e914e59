//! `GET /api/v1/upstreams/{upstream}/autoscale` and `POST .../scale`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::StatusCode;
use serde::Deserialize;

use super::AdminState;
use crate::api_error::ApiError;
use crate::autoscale_view::AutoscaleView;
use crate::backend_path::UpstreamPath;

/// `POST .../scale` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ScaleBody {
    /// Wider than `u32` so a huge number gets the range message, not a parse error.
    count: u64,
}

/// 200 with the autoscaler; 404 unknown upstream; 409 not autoscaled.
pub(super) async fn show(
    State(state): State<AdminState>,
    UpstreamPath { upstream }: UpstreamPath,
) -> Result<Json<AutoscaleView>, ApiError> {
    Ok(Json(
        state
            .call(move |control| control.autoscale(&upstream))
            .await??,
    ))
}

/// 202 once the provider was told; 400 outside [min, max]; 404; 409 not autoscaled.
pub(super) async fn scale(
    State(state): State<AdminState>,
    UpstreamPath { upstream }: UpstreamPath,
    crate::json_body::JsonBody(body): crate::json_body::JsonBody<ScaleBody>,
) -> Result<Response, ApiError> {
    let count = u32::try_from(body.count).map_err(|_| {
        ApiError::bad_request(
            "invalid_count",
            format!("count {} is too large", body.count),
        )
    })?;
    let view = state
        .call(move |control| control.scale(&upstream, count))
        .await??;
    Ok((StatusCode::ACCEPTED, Json(view)).into_response())
}
