//! shoal-autoscale: grows and shrinks an upstream's fleet from the balancer's own signals.
//!
//! - [`policy`]: the pure HPA-style policy (tested on a mock clock);
//! - providers: where instances come from — local processes ([`process`]), user commands
//!   ([`command`]), a Kubernetes Deployment (`kubernetes`, behind the cargo feature of that
//!   name);
//! - the reconciler: one task per autoscaled upstream that measures, decides, scales, and
//!   adds and drains backends through the [`Fleet`] — the same path as any other membership
//!   change, so health checks and slow start apply;
//! - [`Autoscaler`]: the handle the binary holds (start, reload, status, manual scale,
//!   shutdown).
//!
//! Must not depend on the proxy or the admin API: the binary hands it a [`Fleet`].

mod autoscaler;
pub mod child_guard;
pub mod command;
mod fleet;
#[cfg(feature = "kubernetes")]
pub mod kubernetes;
pub mod policy;
pub mod proc_stat;
pub mod process;
mod provider;
mod reconciler;
pub mod status;

pub use autoscaler::{Autoscaler, Options, ScaleError};
pub use fleet::Fleet;
pub use policy::{Decision, Observation, Policy, PolicyParams, TargetReading};
pub use status::{Event, InstanceState, InstanceStatus, Status, MAX_EVENTS};
