//! shoal-admin: the operator's HTTP API — read listeners, upstreams and recent events, drain,
//! enable, disable, reweigh, add and remove backends, reload the config — plus shoal's own
//! `/live` and `/ready`, its counters at `/metrics` (Prometheus text), and the dashboard at
//! `/` (static files embedded in the binary, which poll the API). The endpoints, bodies and errors are documented in `docs/admin-api.md` and
//! `docs/admin-api.yaml` (OpenAPI; a test holds it to [`endpoints`]).
//!
//! The API never changes state itself: it calls a [`Control`], which the binary implements by
//! reading its snapshot and sending commands to shoal's one control task. So this crate must
//! not depend on shoal-proxy, shoal-upstream or shoal-config; it knows only its own [`views`]
//! and shoal-core.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # async fn run(control: Arc<dyn shoal_admin::Control>) -> std::io::Result<()> {
//! let (shutdown, signal) = shoal_core::Shutdown::new();
//! let server = shoal_admin::AdminServer::bind("127.0.0.1:9090".parse().expect("addr"), None, control)?;
//! let task = tokio::spawn(server.serve(signal));
//! // ...
//! shutdown.trigger();
//! # let _ = task.await;
//! # Ok(())
//! # }
//! ```

mod admin_server;
mod api_error;
mod autoscale_view;
mod backend_path;
mod bearer_token;
mod control;
mod dashboard;
mod event_view;
mod json_body;
mod routes;
pub mod views;

pub use admin_server::{AdminServer, MAX_BODY_BYTES};
pub use autoscale_view::{AutoscaleView, DecisionView, InstanceView, TargetView};
pub use control::{Control, ControlError, MAX_WEIGHT};
pub use routes::{endpoints, Endpoint, METRICS_CONTENT_TYPE};
pub use views::{
    BackendState, BackendView, CheckResult, CheckView, EventKind, EventView, ListenerView,
    ReloadSummary, RouteView, UpstreamView,
};
