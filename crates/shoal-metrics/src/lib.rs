//! shoal-metrics: the primitives shoal counts with and the Prometheus text format it is read
//! in. No registry of label sets: the things being measured (listeners, routes, upstreams,
//! backends) own their counters, and a scrape walks the live snapshot and writes what it finds
//! with [`TextEncoder`]. So the request path only ever touches an atomic it already holds, and a
//! backend that leaves takes its series with it.
//!
//! - [`Counter`], [`Gauge`]: one relaxed atomic each.
//! - [`Histogram`]: fixed buckets, one relaxed atomic per bucket plus count and sum; no lock,
//!   no allocation after construction. [`HistogramSnapshot::quantile`] estimates percentiles
//!   for the dashboard and the autoscaler.
//! - [`TextEncoder`]: Prometheus text exposition 0.0.4 (HELP/TYPE once per family, escaped
//!   label values, cumulative `_bucket{le}` with `+Inf`, `_sum`, `_count`).
//!
//! Names follow `shoal_<area>_<thing>_<unit>` (docs/metrics.md). Depends on nothing.

mod counter;
mod histogram;
mod text_encoder;

pub use counter::{Counter, Gauge};
pub use histogram::{Histogram, HistogramSnapshot, LATENCY_BUCKETS};
pub use text_encoder::{MetricKind, TextEncoder};
