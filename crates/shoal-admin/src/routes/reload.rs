//! `POST /api/v1/reload`.

use axum::extract::State;
use axum::Json;

use super::AdminState;
use crate::api_error::ApiError;
use crate::views::ReloadSummary;

/// 200 with what changed, or 400 `{"error":"invalid config","details":[...]}` listing every
/// config error (the old config keeps serving).
pub(super) async fn reload(
    State(state): State<AdminState>,
) -> Result<Json<ReloadSummary>, ApiError> {
    match state.call(|control| control.reload()).await? {
        Ok(summary) => Ok(Json(summary)),
        Err(errors) => Err(ApiError::invalid_config(errors)),
    }
}
