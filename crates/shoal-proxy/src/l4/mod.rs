//! The L4 side of the data plane: tcp and tls_passthrough listeners whose connections are
//! relayed, byte for byte, to a backend of an upstream.

mod activity;
mod client_hello;
mod inbound_proxy_header;
mod preamble;
mod proxy_header;
mod proxy_header_guard;
mod tcp_relay;

pub(crate) use preamble::read_proxy_header_exact;
pub(crate) use tcp_relay::serve_tcp;
