//! `GET /api/v1/listeners`.

use axum::extract::State;
use axum::Json;

use super::AdminState;
use crate::api_error::ApiError;
use crate::views::ListenerView;

/// 200 with every listener and its routes.
pub(super) async fn list(
    State(state): State<AdminState>,
) -> Result<Json<Vec<ListenerView>>, ApiError> {
    Ok(Json(state.call(|control| control.listeners()).await?))
}
