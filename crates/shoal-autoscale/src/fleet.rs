//! [`Fleet`]: what the autoscaler needs from the running shoal — the upstream's live
//! backends, and membership changes through the same one writer as any config change.

use std::net::SocketAddr;
use std::sync::Arc;

use shoal_upstream::{BackendState, HealthSupervisor};

/// The binary implements this over its `Controller` (config file + runtime changes) and
/// the proxy's snapshot, so a backend the autoscaler adds gets health checks and slow start
/// exactly like one from the file or the admin API.
pub trait Fleet: Send + Sync + 'static {
    /// The upstream's backends in the snapshot serving now (empty when it does not exist).
    fn backends(&self, upstream: &str) -> Vec<Arc<BackendState>>;
    /// Adds a backend. `Ok` also when it is already there.
    fn add(&self, upstream: &str, addr: SocketAddr) -> Result<(), String>;
    /// Removes a backend (the autoscaler has drained it). `Ok` also when it is gone.
    fn remove(&self, upstream: &str, addr: SocketAddr) -> Result<(), String>;
    /// The health supervisor: drains, and the details of a backend's last check.
    fn health(&self) -> HealthSupervisor;
}
