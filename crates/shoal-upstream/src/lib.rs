//! shoal-upstream: the runtime side of an upstream — its backends' live state (in-flight
//! counts, latency estimate, pooled connections per worker), its balancer, and its retry
//! budget.
//!
//! The balancer itself is pure (shoal-balance); this crate feeds it the live numbers through
//! [`shoal_balance::Loads`]. Long-lived per-backend state lives in [`BackendState`], keyed by
//! address so a new config snapshot can carry it over. Must not depend on the proxy, the router
//! or anything HTTP-server-side.

mod backend_state;
mod backend_stream;
mod body;
mod clock;
mod connect_error;
mod deadline;
pub mod h1;
pub mod h2;
mod health_supervisor;
pub mod latency_histogram;
mod retry_budget;
mod transition_feed;
mod transport;
mod transport_probe;
mod tried;
mod tunnels;
mod upstream;

pub use backend_state::{
    BackendState, BackendStats, HealthEvent, InFlight, OpenTunnel, PassiveLimits, PooledConn,
};
pub use backend_stream::BackendStream;
pub use body::{BodyError, BodyTooLarge, ClientBody, UpstreamBody};
pub use clock::now_ns;
pub use connect_error::ConnectError;
pub use deadline::Deadline;
pub use health_supervisor::{HealthSupervisor, HealthView, Operation, SupervisorTask};
pub use latency_histogram::{LatencyCounts, LatencyHistogram, LATENCY_BUCKETS};
pub use retry_budget::{backoff, RetryBudget, RetryPermit};
pub use transition_feed::TransitionEvent;
pub use transport::Transport;
pub use tried::{Tried, MAX_TRIES};
pub use tunnels::paced_close_offset;
pub use upstream::{Upstream, UpstreamRegistry};
