//! The admin API's routes: one module per resource, assembled here with the layers every
//! request passes (body limit, request timeout, bearer token) and JSON 404/405 fallbacks.

mod autoscale;
mod backends;
mod events;
mod listeners;
mod metrics;
mod probes;
mod reload;
mod route_table;
mod upstreams;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use http::{header, StatusCode};

use crate::admin_server::MAX_BODY_BYTES;
use crate::api_error::ApiError;
use crate::bearer_token::{require_token, BearerToken};
use crate::control::Control;
use crate::dashboard;
pub use metrics::CONTENT_TYPE as METRICS_CONTENT_TYPE;
pub use route_table::Endpoint;
use route_table::RouteTable;

/// Longest a request may take, body included: a client trickling its body, or a control
/// call that never returns, cannot hold a connection (and a graceful shutdown) forever.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What every handler gets.
#[derive(Clone)]
pub(crate) struct AdminState {
    control: Arc<dyn Control>,
}

impl AdminState {
    /// Runs `f` against the [`Control`] on tokio's blocking pool: implementations may block
    /// on the control task's reply. A panic in `f` becomes a 500, not a dead connection.
    pub(crate) async fn call<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&dyn Control) -> T + Send + 'static,
        T: Send + 'static,
    {
        let control = Arc::clone(&self.control);
        tokio::task::spawn_blocking(move || f(control.as_ref()))
            .await
            .map_err(|error| {
                tracing::error!(%error, "admin control call failed");
                ApiError::internal("internal error: the control call failed")
            })
    }
}

/// Every endpoint, in one list: the router is built from it and [`endpoints`] exports it.
fn table() -> RouteTable {
    const BACKEND: &str = "/api/v1/upstreams/{upstream}/backends/{addr}";
    let table = RouteTable::new()
        .get("/live", probes::live)
        .get("/ready", probes::ready)
        .get("/api/v1/listeners", listeners::list)
        .get("/api/v1/upstreams", upstreams::list)
        .get("/api/v1/upstreams/{upstream}", upstreams::show)
        .post("/api/v1/upstreams/{upstream}/backends", backends::add)
        .get("/api/v1/upstreams/{upstream}/autoscale", autoscale::show)
        .post("/api/v1/upstreams/{upstream}/scale", autoscale::scale)
        .delete(BACKEND, backends::remove)
        .post(&format!("{BACKEND}/drain"), backends::drain)
        .post(&format!("{BACKEND}/enable"), backends::enable)
        .post(&format!("{BACKEND}/disable"), backends::disable)
        .put(&format!("{BACKEND}/weight"), backends::set_weight)
        .post("/api/v1/reload", reload::reload)
        .get("/api/v1/events", events::list)
        .get("/metrics", metrics::metrics);
    dashboard::ASSETS.iter().fold(table, |table, asset| {
        table.get(asset.path, move || async move { asset.response() })
    })
}

/// Every endpoint the admin API serves, in the order they are registered.
pub fn endpoints() -> Vec<Endpoint> {
    table().into_parts().1
}

/// The whole admin API.
pub(crate) fn router(control: Arc<dyn Control>, token: Option<Arc<BearerToken>>) -> Router {
    let (routes, _) = table().into_parts();
    routes
        // After every route: it applies to the routes registered before it.
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .with_state(AdminState { control })
        // Layers run outermost (last added) first: time limit, token, body size.
        // Bodies without a length (chunked) are cut at the limit as they are read.
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(announced_length))
        .layer(middleware::from_fn_with_state(token, require_token))
        .layer(middleware::from_fn(time_limit))
}

async fn not_found(request: Request) -> ApiError {
    ApiError::not_found(format!(
        "no such endpoint: {} {}",
        request.method(),
        crate::backend_path::truncate(request.uri().path())
    ))
}

async fn method_not_allowed(request: Request) -> ApiError {
    // axum adds the `Allow` header to this answer.
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "method {} not allowed on {}",
            request.method(),
            crate::backend_path::truncate(request.uri().path())
        ),
    )
}

/// 413 at once for a `Content-Length` past the limit, rather than reading (or waiting for)
/// a body that will be refused anyway.
async fn announced_length(request: Request, next: Next) -> Response {
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match announced {
        Some(length) if length > MAX_BODY_BYTES as u64 => {
            ApiError::payload_too_large().into_response()
        }
        _ => next.run(request).await,
    }
}

async fn time_limit(request: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            format!(
                "request not completed within {}s",
                REQUEST_TIMEOUT.as_secs()
            ),
        )
        .into_response(),
    }
}
