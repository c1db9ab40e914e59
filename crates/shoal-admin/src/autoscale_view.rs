//! What `GET /api/v1/upstreams/{upstream}/autoscale` shows: the autoscaler of one upstream,
//! its instances, and its last decisions with their inputs.

use serde::{Deserialize, Serialize};

/// One autoscaled upstream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutoscaleView {
    pub upstream: String,
    /// `"process"`, `"command"` or `"kubernetes"`.
    pub provider: String,
    pub min: u32,
    pub max: u32,
    pub evaluate_every_ms: u64,
    /// Instances asked for and not being removed.
    pub current: u32,
    /// What the last decision (or a manual scale) asked for.
    pub desired: u32,
    /// The provider's last error; `None` when its last call worked.
    pub provider_error: Option<String>,
    pub instances: Vec<InstanceView>,
    /// The last decisions (at most 200), oldest first.
    pub events: Vec<DecisionView>,
}

/// One instance of the fleet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceView {
    pub id: String,
    pub addr: String,
    /// `"starting"`, `"warming"`, `"ready"` or `"draining"`.
    pub state: String,
    /// Process provider only.
    pub pid: Option<u32>,
    /// Process provider only: CPU over the last evaluation, percent of one core.
    pub cpu_percent: Option<f64>,
}

/// One decision. Identical "no change" decisions in a row are kept once, with a count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionView {
    pub at_unix_ms: u64,
    pub last_at_unix_ms: u64,
    pub repeated: u32,
    /// `"scale_up"`, `"scale_down"`, `"none"` or `"manual"`.
    pub action: String,
    pub current: u32,
    pub desired: u32,
    /// Instances not counted (starting, not ready, warming).
    pub unready: u32,
    /// What the metrics alone recommended, before stabilization and rate limits.
    pub recommendation: Option<u32>,
    pub targets: Vec<TargetView>,
    pub reason: String,
}

/// One target's reading in a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetView {
    /// The config key: `rps_per_backend`, `in_flight_per_backend`, `cpu_percent`,
    /// `p95_latency` (milliseconds).
    pub metric: String,
    pub target: f64,
    /// Mean over the counted backends with a value.
    pub value: Option<f64>,
    pub measured: usize,
    pub missing: usize,
    pub recommendation: Option<u32>,
}
