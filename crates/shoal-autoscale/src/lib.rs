//! shoal-autoscale: grows and shrinks an upstream's fleet from the balancer's own signals.
//!
//! - [`policy`]: the pure HPA-style policy (tested on a mock clock);
//! - providers: where instances come from — local processes, user commands, Kubernetes;
//! - the reconciler: one task per autoscaled upstream that measures, decides, scales, and
//!   adds and drains backends through the same path as any other membership change.
//!
//! Must not depend on the proxy or the admin API: the binary hands it a [`Fleet`] (the
//! upstream's live backends and the way to change membership).

pub mod policy;

pub use policy::{Decision, Observation, Policy, PolicyParams, TargetReading};
