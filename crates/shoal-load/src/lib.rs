//! shoal-load: the engine of `shoal load`, an HTTP/1.1 load generator.
//!
//! - **Open loop** (`--rate N`): request *i* is due at `start + i / N` whatever happened to
//!   the others, and its latency is measured from that intended time, not from when it could
//!   actually be sent. A stall therefore shows as the latency it caused every waiting request
//!   (no coordinated omission, as in wrk2).
//! - **Closed loop** (`--concurrency N`): N connections each send their next request when the
//!   previous answer is complete; latency from the actual send.
//!
//! Latencies go into an HDR histogram (µs, 3 significant digits). The pure parts — the
//! [`Schedule`], the [`Stats`] and the [`Summary`] with its text and JSON renderings — are
//! unit-tested; [`run`] is the async driver (one event loop, keep-alive connections).
//! An answer counts as ok when its status is below 400; anything else (a 4xx or 5xx, a
//! connect error, a reset, a timeout) is an error.

mod engine;
mod schedule;
mod stats;
mod target;

pub use engine::{run, LoadOptions, Mode};
pub use schedule::Schedule;
pub use stats::{Outcome, Stats, Summary};
pub use target::{Target, TargetError};
