//! `GET /api/v1/upstreams` and `GET /api/v1/upstreams/{upstream}`.

use axum::extract::State;
use axum::Json;

use super::AdminState;
use crate::api_error::ApiError;
use crate::backend_path::UpstreamPath;
use crate::control::ControlError;
use crate::views::UpstreamView;

/// 200 with every upstream and its backends.
pub(super) async fn list(
    State(state): State<AdminState>,
) -> Result<Json<Vec<UpstreamView>>, ApiError> {
    Ok(Json(state.call(|control| control.upstreams()).await?))
}

/// 200 with one upstream, 404 when there is none of that name.
pub(super) async fn show(
    State(state): State<AdminState>,
    UpstreamPath { upstream }: UpstreamPath,
) -> Result<Json<UpstreamView>, ApiError> {
    let name = upstream.clone();
    match state.call(move |control| control.upstream(&name)).await? {
        Some(view) => Ok(Json(view)),
        None => Err(ControlError::UnknownUpstream(upstream).into()),
    }
}
