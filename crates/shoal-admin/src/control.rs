//! [`Control`]: everything the admin API can ask of shoal, implemented by the binary.
//!
//! The admin API never touches shared state: reads come from the implementation's snapshot and
//! atomics, changes become commands for shoal's one control task. That keeps this crate free of
//! the proxy, upstream and config crates, and keeps "one writer" true.

use crate::autoscale_view::AutoscaleView;
use crate::views::{BackendView, EventView, ListenerView, ReloadSummary, UpstreamView};

/// The admin API's handle on shoal.
///
/// Methods are synchronous. The server calls them on tokio's blocking pool
/// ([`tokio::task::spawn_blocking`]), so an implementation may block briefly — for instance on
/// the control task's reply (`oneshot::Receiver::blocking_recv`) — without stalling the
/// runtime.
///
/// Every `upstream` is a name as the client sent it (percent-decoded); every `addr` has
/// already been validated as a socket address and is passed in canonical form (Rust's
/// `SocketAddr` display: `127.0.0.1:9001`, `[::1]:9001`), so `[0:0::1]:9001` and `[::1]:9001`
/// name the same backend.
pub trait Control: Send + Sync + 'static {
    /// Every listener with its routes, in config order.
    fn listeners(&self) -> Vec<ListenerView>;
    /// Every upstream with its backends, in config order.
    fn upstreams(&self) -> Vec<UpstreamView>;
    /// One upstream; `None` when no upstream has that name.
    fn upstream(&self, name: &str) -> Option<UpstreamView>;
    /// Stops new requests to the backend; in-flight ones finish. The backend stays (drained)
    /// until enabled or removed.
    fn drain(&self, upstream: &str, addr: &str) -> Result<BackendView, ControlError>;
    /// Undoes `drain` or `disable`: the backend returns through its health checks.
    fn enable(&self, upstream: &str, addr: &str) -> Result<BackendView, ControlError>;
    /// Switches the backend off: no requests until enabled.
    fn disable(&self, upstream: &str, addr: &str) -> Result<BackendView, ControlError>;
    /// Sets the configured weight; `weight` is already checked to be in `1..=`[`MAX_WEIGHT`].
    fn set_weight(
        &self,
        upstream: &str,
        addr: &str,
        weight: u32,
    ) -> Result<BackendView, ControlError>;
    /// Adds a backend (it starts as the health policy says: `warming` or `not_ready`);
    /// `weight` is already checked to be in `1..=`[`MAX_WEIGHT`].
    fn add_backend(
        &self,
        upstream: &str,
        addr: &str,
        weight: u32,
    ) -> Result<BackendView, ControlError>;
    /// Removes a backend through draining: the answer shows it `draining`; it goes once its
    /// in-flight requests finish (or the drain timeout cuts them).
    fn remove_backend(&self, upstream: &str, addr: &str) -> Result<BackendView, ControlError>;
    /// Re-reads the config file. `Err` carries every config error, each formatted with its
    /// path (and line); the old config keeps serving.
    fn reload(&self) -> Result<ReloadSummary, Vec<String>>;
    /// Whether shoal itself is ready to serve (listeners bound). Drives `GET /ready`.
    fn ready(&self) -> bool;
    /// The recent events (operator actions, reloads, health changes) whose id is greater than
    /// `since`, oldest first. Drives `GET /api/v1/events`; the default keeps no log.
    fn events(&self, since: u64) -> Vec<EventView> {
        let _ = since;
        Vec::new()
    }
    /// Every metric in the Prometheus text exposition format 0.0.4 (`docs/metrics.md`).
    /// Drives `GET /metrics`; the default has none.
    fn metrics(&self) -> String {
        String::new()
    }
    /// The upstream's autoscaler: instances and recent decisions. `Conflict` when the
    /// upstream is not autoscaled.
    fn autoscale(&self, upstream: &str) -> Result<AutoscaleView, ControlError> {
        Err(self.not_autoscaled(upstream))
    }
    /// Sets the upstream's instance count by hand (the autoscaler takes it from there,
    /// holding it for its scale-down window). `InvalidCount` outside its min and max.
    fn scale(&self, upstream: &str, count: u32) -> Result<AutoscaleView, ControlError> {
        let _ = count;
        Err(self.not_autoscaled(upstream))
    }
    /// The error for an upstream without autoscaler: 404 when there is no such upstream.
    fn not_autoscaled(&self, upstream: &str) -> ControlError {
        match self.upstream(upstream) {
            None => ControlError::UnknownUpstream(upstream.to_string()),
            Some(_) => ControlError::Conflict(format!("upstream {upstream:?} is not autoscaled")),
        }
    }
}

/// The largest backend weight, as in the config file (`1..=1000`).
pub const MAX_WEIGHT: u32 = 1000;

/// Why a [`Control`] change was refused. Each maps to one HTTP status (see
/// [`ControlError::status`]) and its `Display` is the `error` message the client sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// 404.
    #[error("unknown upstream {0:?}")]
    UnknownUpstream(String),
    /// 404.
    #[error("upstream {upstream:?} has no backend {addr}")]
    UnknownBackend { upstream: String, addr: String },
    /// 400: an address the implementation refuses (the server already rejects what does not
    /// parse as a socket address; this is for e.g. port 0).
    #[error("invalid address: {0}")]
    InvalidAddress(String),
    /// 400.
    #[error("invalid weight: {0}")]
    InvalidWeight(String),
    /// 400: a count outside the autoscaler's min and max.
    #[error("invalid count: {0}")]
    InvalidCount(String),
    /// 409: adding a backend the upstream already has.
    #[error("upstream {upstream:?} already has backend {addr}")]
    AlreadyExists { upstream: String, addr: String },
    /// 409: the change contradicts the backend's state (e.g. enabling one being removed).
    #[error("{0}")]
    Conflict(String),
    /// 503: shoal cannot take the command now (shutting down, control task gone).
    #[error("{0}")]
    Unavailable(String),
}

impl ControlError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            ControlError::UnknownUpstream(_) | ControlError::UnknownBackend { .. } => {
                StatusCode::NOT_FOUND
            }
            ControlError::InvalidAddress(_)
            | ControlError::InvalidWeight(_)
            | ControlError::InvalidCount(_) => StatusCode::BAD_REQUEST,
            ControlError::AlreadyExists { .. } | ControlError::Conflict(_) => StatusCode::CONFLICT,
            ControlError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The stable machine-readable `code` of the JSON error body.
    pub fn code(&self) -> &'static str {
        match self {
            ControlError::UnknownUpstream(_) => "unknown_upstream",
            ControlError::UnknownBackend { .. } => "unknown_backend",
            ControlError::InvalidAddress(_) => "invalid_address",
            ControlError::InvalidWeight(_) => "invalid_weight",
            ControlError::InvalidCount(_) => "invalid_count",
            ControlError::AlreadyExists { .. } => "already_exists",
            ControlError::Conflict(_) => "conflict",
            ControlError::Unavailable(_) => "unavailable",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_messages() {
        let cases = [
            (
                ControlError::UnknownUpstream("api".into()),
                404,
                "unknown upstream \"api\"",
            ),
            (
                ControlError::UnknownBackend {
                    upstream: "api".into(),
                    addr: "127.0.0.1:1".into(),
                },
                404,
                "upstream \"api\" has no backend 127.0.0.1:1",
            ),
            (
                ControlError::InvalidAddress("port 0".into()),
                400,
                "invalid address: port 0",
            ),
            (
                ControlError::InvalidWeight("0".into()),
                400,
                "invalid weight: 0",
            ),
            (
                ControlError::AlreadyExists {
                    upstream: "api".into(),
                    addr: "127.0.0.1:1".into(),
                },
                409,
                "upstream \"api\" already has backend 127.0.0.1:1",
            ),
            (ControlError::Conflict("draining".into()), 409, "draining"),
            (
                ControlError::Unavailable("shutting down".into()),
                503,
                "shutting down",
            ),
        ];
        for (error, status, message) in cases {
            assert_eq!(error.status().as_u16(), status, "{error:?}");
            assert_eq!(error.to_string(), message);
        }
    }
}
