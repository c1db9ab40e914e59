//! The HTTP side of the data plane. `pipeline.rs` is the request path, top to bottom.

mod body;
mod client_io;
pub(crate) mod connection;
mod error_response;
mod forward;
mod forward_h2;
mod gateway;
mod h1;
mod headers;

pub(crate) use headers::peer_value;
pub(crate) use pipeline::with_rng;
pub(crate) use tunnel::CLOSE_BOUND as TUNNEL_CLOSE_BOUND;
mod pipeline;
mod prefixed_io;
mod request_check;
mod request_id;
mod request_key;
mod trace_context;
mod tunnel;
mod upgrade;
mod ws_frames;
