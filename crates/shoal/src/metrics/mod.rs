//! `GET /metrics`: shoal's counters as Prometheus text (the families are documented in
//! `docs/metrics.md`).
//!
//! Nothing is registered anywhere: the data plane owns its counters (per route in the
//! snapshot, per backend in its `BackendState`, per filter in the gateway, per https listener
//! in its TLS side), and a scrape walks what is serving now. So counting on the request path
//! is a relaxed atomic add the request already has at hand, and a backend or route that
//! leaves takes its series with it.
//!
//! - `readings.rs`: one scrape's numbers, copied out of the live state;
//! - `render.rs`: those numbers as text (pure);
//! - `parse.rs`: a strict reader of the format, for the tests that hold `/metrics` to it.

pub mod parse;
pub mod readings;
pub mod render;

pub use readings::{read, Readings};
pub use render::render;

/// The whole `/metrics` text now. Blocks briefly (one health-supervisor answer per backend):
/// call it from a blocking thread.
pub fn text(
    proxy: &shoal_proxy::ProxyHandle,
    autoscaler: Option<&shoal_autoscale::Autoscaler>,
) -> String {
    render(&read(proxy, autoscaler))
}
