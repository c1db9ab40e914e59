//! Backend changes: drain, enable, disable, weight, add, remove.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::StatusCode;
use serde::Deserialize;

use super::AdminState;
use crate::api_error::ApiError;
use crate::backend_path::{parse_addr, BackendPath, UpstreamPath};
use crate::control::{Control, ControlError, MAX_WEIGHT};
use crate::json_body::JsonBody;
use crate::views::BackendView;

/// `PUT .../weight` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WeightBody {
    /// Wider than `u32` so an out-of-range number gets the range message below.
    weight: u64,
}

/// `POST .../backends` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AddBody {
    addr: String,
    #[serde(default = "default_weight")]
    weight: u64,
}

fn default_weight() -> u64 {
    1
}

fn check_weight(weight: u64) -> Result<u32, ApiError> {
    match u32::try_from(weight) {
        Ok(w) if (1..=MAX_WEIGHT).contains(&w) => Ok(w),
        _ => Err(ApiError::bad_request(
            "invalid_weight",
            format!("weight must be an integer between 1 and {MAX_WEIGHT}, got {weight}"),
        )),
    }
}

/// Calls one backend change and answers `status` with the backend's view.
async fn change<F>(
    state: &AdminState,
    status: StatusCode,
    path: BackendPath,
    f: F,
) -> Result<Response, ApiError>
where
    F: FnOnce(&dyn Control, &str, &str) -> Result<BackendView, ControlError> + Send + 'static,
{
    let BackendPath { upstream, addr } = path;
    let addr = addr.to_string();
    let view = state
        .call(move |control| f(control, &upstream, &addr))
        .await??;
    Ok((status, Json(view)).into_response())
}

/// `POST .../backends/{addr}/drain` → 200.
pub(super) async fn drain(
    State(state): State<AdminState>,
    path: BackendPath,
) -> Result<Response, ApiError> {
    change(&state, StatusCode::OK, path, |c, u, a| c.drain(u, a)).await
}

/// `POST .../backends/{addr}/enable` → 200.
pub(super) async fn enable(
    State(state): State<AdminState>,
    path: BackendPath,
) -> Result<Response, ApiError> {
    change(&state, StatusCode::OK, path, |c, u, a| c.enable(u, a)).await
}

/// `POST .../backends/{addr}/disable` → 200.
pub(super) async fn disable(
    State(state): State<AdminState>,
    path: BackendPath,
) -> Result<Response, ApiError> {
    change(&state, StatusCode::OK, path, |c, u, a| c.disable(u, a)).await
}

/// `PUT .../backends/{addr}/weight` with `{"weight": n}` → 200.
pub(super) async fn set_weight(
    State(state): State<AdminState>,
    path: BackendPath,
    JsonBody(body): JsonBody<WeightBody>,
) -> Result<Response, ApiError> {
    let weight = check_weight(body.weight)?;
    change(&state, StatusCode::OK, path, move |c, u, a| {
        c.set_weight(u, a, weight)
    })
    .await
}

/// `DELETE .../backends/{addr}` → 202: draining now, removed once drained.
pub(super) async fn remove(
    State(state): State<AdminState>,
    path: BackendPath,
) -> Result<Response, ApiError> {
    change(&state, StatusCode::ACCEPTED, path, |c, u, a| {
        c.remove_backend(u, a)
    })
    .await
}

/// `POST .../backends` with `{"addr": "...", "weight": n}` → 201.
pub(super) async fn add(
    State(state): State<AdminState>,
    UpstreamPath { upstream }: UpstreamPath,
    JsonBody(body): JsonBody<AddBody>,
) -> Result<Response, ApiError> {
    let addr = parse_addr(&body.addr)?;
    let weight = check_weight(body.weight)?;
    let path = BackendPath { upstream, addr };
    change(&state, StatusCode::CREATED, path, move |c, u, a| {
        c.add_backend(u, a, weight)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights() {
        assert_eq!(check_weight(1).ok(), Some(1));
        assert_eq!(check_weight(1000).ok(), Some(1000));
        for bad in [0, 1001, u64::from(u32::MAX) + 1, u64::MAX] {
            assert_eq!(
                check_weight(bad).map_err(|e| e.status()),
                Err(StatusCode::BAD_REQUEST),
                "{bad}"
            );
        }
    }
}
