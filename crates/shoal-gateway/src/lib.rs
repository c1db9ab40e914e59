//! shoal-gateway: the API gateway's filters and sticky sessions.
//!
//! A route names filters (`filters = ["jwt_users", "per_user"]`); [`Gateway::compile`] turns
//! the config's `[filters.NAME]` tables into [`Chain`]s, which the proxy runs after routing
//! and before forwarding. A filter lets the request go on (perhaps with new headers, claims
//! for later filters, response headers to add), or answers it ([`Answer`]): a [`Rejection`]
//! the proxy renders like its own errors, or a [`Reply`] (redirect, configured response,
//! CORS preflight).
//!
//! The arithmetic and parsing are pure and tested on their own: GCRA (`gcra.rs`) with its
//! bounded key table (`key_table.rs`), the JSON Schema subset, cookie signing. This crate
//! knows HTTP types and the config, not sockets, the proxy or upstreams.

mod api_key;
mod basic_auth;
mod chain;
pub mod clock;
mod cors;
mod exchange;
mod filter_stats;
mod gateway;
pub mod gcra;
mod header_ops;
mod json_schema;
mod jwt;
pub mod key_file;
pub mod key_table;
mod limits;
mod rate_limit;
pub mod request_key;
mod respond;
mod sticky;
mod template;

pub use api_key::{sha256_hex, X_API_KEY_NAME};
pub use chain::{Chain, Filter};
pub use exchange::{Answer, Exchange, Rejection, Reply, RequestCtx, ResponseEdit};
pub use gateway::{check, Gateway, GatewaySnapshot};
pub use json_schema::{Schema, MAX_VIOLATIONS};
pub use rate_limit::RateState;
pub use sticky::{Affinity, StickyCodec, StickyTable};
