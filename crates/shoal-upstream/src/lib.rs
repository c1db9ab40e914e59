//! shoal-upstream: the runtime side of an upstream — its backends' live state (in-flight
//! counts, latency estimate, pooled connections per worker), its balancer, and its retry
//! budget.
//!
//! The balancer itself is pure (shoal-balance); this crate feeds it the live numbers through
//! [`shoal_balance::Loads`]. Long-lived per-backend state lives in [`BackendState`], keyed by
//! address so a new config snapshot can carry it over. Must not depend on the proxy, the router
//! or anything HTTP-server-side.

mod backend_state;
mod body;
mod clock;
mod connect_error;
pub mod h1;
mod health_supervisor;
pub mod latency_histogram;
mod retry_budget;
mod tried;
mod upstream;

pub use backend_state::{BackendState, HealthEvent, InFlight, PassiveLimits, PooledConn};
pub use body::UpstreamBody;
pub use clock::now_ns;
pub use connect_error::ConnectError;
pub use health_supervisor::{HealthSupervisor, HealthView, Operation, SupervisorTask};
pub use latency_histogram::{LatencyCounts, LatencyHistogram, LATENCY_BUCKETS};
pub use retry_budget::{backoff, RetryBudget, RetryPermit};
pub use tried::{Tried, MAX_TRIES};
pub use upstream::{Upstream, UpstreamRegistry};
