//! shoal-health: judging backends. A pure core — the per-backend state machine
//! ([`HealthState`]: active-check rise/fall, liveness, outlier ejection, slow start, drain,
//! operator enable/disable) and the arithmetic around it ([`slow_start_factor`],
//! [`panic_mode`], [`max_ejected`], [`ejection_time`], [`jittered`]) — plus thin async
//! probers ([`probe_tcp`], [`probe_http`], [`Prober`]) that produce the [`ProbeOutcome`]s
//! the core consumes.
//!
//! The pure code reads no clock: every input carries `now: Instant`, so tests drive it with
//! made-up instants. It also owns no tasks, timers or sockets; the probers do one probe per
//! call and nothing else.
//!
//! It depends on shoal-core and shoal-config only. It must not depend on shoal-upstream,
//! shoal-proxy or any runtime crate: the upstream layer owns the health tasks, computes the
//! ejection cap over its backends, publishes [`BackendStatus`] (as a `u8`) and the weight
//! factor to the data plane, and logs each [`Transition`] once.
//!
//! How a caller wires it (one health task per upstream, the single writer):
//!
//! ```ignore
//! let policy = HealthPolicy::from_upstream(&upstream_config);
//! let mut state = HealthState::new(policy, Instant::now(), initial);
//! // every jittered(interval, rng.unit()):
//! if let Some(t) = state.on_probe(prober.check(addr).await, Instant::now()) { log(t) }
//! // for every proxied response:
//! let may = may_eject(ejected_now, total, outlier.max_ejection_percent);
//! if let Some(t) = state.on_response(outcome, Instant::now(), may) { log(t) }
//! // every second or so:
//! match state.tick(Instant::now()) { Some(TickEvent::DrainExpired) => remove(), .. }
//! ```

mod backend_status;
mod ejection;
mod health_policy;
mod health_state;
mod jitter;
mod outcome;
mod panic_mode;
mod probe_error;
mod probe_http;
mod probe_outcome;
mod probe_tcp;
mod prober;
mod slow_start;
mod transition;

pub use backend_status::BackendStatus;
pub use ejection::{ejection_time, max_ejected, may_eject};
pub use health_policy::HealthPolicy;
pub use health_state::{HealthState, LastProbe};
pub use jitter::{jittered, JITTER_FRACTION};
pub use outcome::Outcome;
pub use panic_mode::panic_mode;
pub use probe_error::ProbeError;
pub use probe_http::{
    parse_status_line, probe_http, probe_http_with, probe_request, read_status, PlainHttp,
    ProbeClient, MAX_HEAD_BYTES,
};
pub use probe_outcome::ProbeOutcome;
pub use probe_tcp::probe_tcp;
pub use prober::Prober;
pub use slow_start::{slow_start_factor, SLOW_START_MIN_FACTOR};
pub use transition::{TickEvent, Transition};
