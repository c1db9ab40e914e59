//! shoal-router: which route a request takes, which upstream of a split it goes to, and how
//! its path is rewritten. Pure: no I/O, no clock, no randomness (callers pass the roll).
//! Depends on shoal-config's plain data types and `http` only; nothing runtime (sockets,
//! snapshots, upstreams) may be imported here.
//!
//! - [`RouteTable`] — built once per config snapshot from a listener's routes;
//!   [`RouteTable::find`] answers the index of the most specific matching route (the
//!   precedence contract is documented in [`route_table`]).
//! - [`normalize_host`] — the `Host` header as routes see it, or `None` for a 400.
//! - [`SniTable`] — a tls_passthrough listener's server name → upstream.
//! - [`Split`] — weighted choice among a route's upstreams.
//! - [`rewrite_path`] — `strip_prefix` / `replace_prefix` on a segment boundary.

mod host;
mod rewrite;
pub mod route_table;
mod sni_table;
mod split;

pub use host::normalize_host;
pub use rewrite::rewrite_path;
pub use route_table::{RequestView, RouteTable};
pub use sni_table::SniTable;
pub use split::Split;
