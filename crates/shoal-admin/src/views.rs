//! What the admin API shows: plain serde structs the binary fills from its snapshot and
//! atomics, serialized as the JSON bodies documented in `docs/admin-api.md`.
//!
//! They are views, not state: nothing here is read back into shoal. They derive `Deserialize`
//! too, so clients (`shoal ctl`, tests) parse the same types the server writes.

use serde::{Deserialize, Serialize};

pub use crate::event_view::{EventKind, EventView};

/// One listener: a bound socket, its protocol and its routes in match order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerView {
    pub name: String,
    /// The bound address, e.g. `"0.0.0.0:8080"`.
    pub bind: String,
    /// `"http"` or `"tcp"` (as configured).
    pub protocol: String,
    pub routes: Vec<RouteView>,
}

/// One route on a listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteView {
    pub name: String,
    /// The match, human-readable, e.g. `"host=api.example.com prefix=/v1/"`, `"*"` for all.
    pub matcher: String,
    /// Where it sends traffic: an upstream name, or a split such as `"api:95 api_next:5"`.
    pub target: String,
}

/// One upstream with every backend it has now (draining ones included).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpstreamView {
    pub name: String,
    /// The balancer's config name, e.g. `"round_robin"`.
    pub algorithm: String,
    pub backends: Vec<BackendView>,
    /// True while fewer than `panic_threshold` of the backends are eligible and the balancer
    /// spreads over all non-disabled backends.
    pub panic: bool,
    /// How many backends the balancer may pick now.
    pub eligible: usize,
}

/// One backend of an upstream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackendView {
    /// The socket address, e.g. `"127.0.0.1:9001"` or `"[::1]:9001"`.
    pub addr: String,
    pub state: BackendState,
    /// The configured weight (1..=1000), after any runtime change.
    pub weight: u32,
    /// The weight the balancer uses now: `weight` lowered by slow start (may be fractional).
    pub effective_weight: f64,
    /// Requests sent to the backend whose response has not finished.
    pub in_flight: u64,
    /// Requests sent since the backend joined.
    pub requests: u64,
    /// Of those, how many failed (connect error, timeout, 5xx).
    pub failures: u64,
    /// WebSocket tunnels open to the backend now (each also counts in `in_flight`).
    #[serde(default)]
    pub tunnels: u64,
    /// WebSocket tunnels shoal closed because the backend drained (or shoal shut down),
    /// since the backend joined.
    #[serde(default)]
    pub tunnels_closed_by_drain: u64,
    /// The latest active check; `None` before the first one, or with no active checks.
    pub last_check: Option<CheckView>,
}

/// The lifecycle state of a backend (issue 3's state model), shown the same way everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendState {
    /// New or recovered, inside its slow-start window.
    Warming,
    Ready,
    /// Readiness failing: no new requests, in-flight ones finish.
    NotReady,
    /// Liveness failing or ejected: no requests.
    Down,
    /// Being removed: no new requests, in-flight ones finish until the drain timeout.
    Draining,
    /// Switched off by the operator.
    Disabled,
}

impl BackendState {
    /// The snake_case name used in JSON, logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendState::Warming => "warming",
            BackendState::Ready => "ready",
            BackendState::NotReady => "not_ready",
            BackendState::Down => "down",
            BackendState::Draining => "draining",
            BackendState::Disabled => "disabled",
        }
    }
}

/// The latest active health check of a backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckView {
    /// When it finished, in milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
    pub result: CheckResult,
    /// Why it failed (`"connection refused"`, `"status 503"`, ...); `None` on success.
    pub reason: Option<String>,
}

/// The outcome of one active check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckResult {
    Ready,
    NotReady,
    LivenessFailed,
}

/// What a successful reload changed. Backends are written `"<upstream> <addr>"`, e.g.
/// `"api 127.0.0.1:9003"`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReloadSummary {
    /// False when the file compiled to the same config as the one serving.
    pub changed: bool,
    pub upstreams_added: Vec<String>,
    pub upstreams_removed: Vec<String>,
    pub backends_added: Vec<String>,
    /// Removed backends drain before they go.
    pub backends_removed: Vec<String>,
    pub listeners_added: Vec<String>,
    pub listeners_removed: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_serialize_as_their_names() {
        for state in [
            BackendState::Warming,
            BackendState::Ready,
            BackendState::NotReady,
            BackendState::Down,
            BackendState::Draining,
            BackendState::Disabled,
        ] {
            let json = serde_json::to_string(&state).expect("serializes");
            assert_eq!(json, format!("\"{}\"", state.as_str()));
            let back: BackendState = serde_json::from_str(&json).expect("parses");
            assert_eq!(back, state);
        }
        let json = serde_json::to_string(&CheckResult::LivenessFailed).expect("serializes");
        assert_eq!(json, "\"liveness_failed\"");
    }

    #[test]
    fn backend_view_shape() {
        let view = BackendView {
            addr: "127.0.0.1:9001".into(),
            state: BackendState::NotReady,
            weight: 3,
            effective_weight: 1.5,
            in_flight: 2,
            requests: 10,
            failures: 1,
            tunnels: 1,
            tunnels_closed_by_drain: 4,
            last_check: Some(CheckView {
                at_unix_ms: 1_700_000_000_000,
                result: CheckResult::NotReady,
                reason: Some("status 503".into()),
            }),
        };
        let json = serde_json::to_value(&view).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({
                "addr": "127.0.0.1:9001",
                "state": "not_ready",
                "weight": 3,
                "effective_weight": 1.5,
                "in_flight": 2,
                "requests": 10,
                "failures": 1,
                "tunnels": 1,
                "tunnels_closed_by_drain": 4,
                "last_check": {
                    "at_unix_ms": 1_700_000_000_000u64,
                    "result": "not_ready",
                    "reason": "status 503"
                }
            })
        );
    }

    #[test]
    fn reload_summary_fields_default_when_absent() {
        let summary: ReloadSummary = serde_json::from_str(r#"{"changed": true}"#).expect("parses");
        assert!(summary.changed);
        assert!(summary.backends_added.is_empty());
    }
}
