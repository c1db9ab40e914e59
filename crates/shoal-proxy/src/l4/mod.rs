//! The L4 side of the data plane: TCP listeners whose connections are relayed, byte for
//! byte, to a backend of one upstream.

mod activity;
mod proxy_header;
mod tcp_relay;

pub(crate) use tcp_relay::serve_tcp;
