//! shoal end to end: the real proxy on real sockets (`127.0.0.1:0`), fake backends that are
//! real HTTP servers, and the real binary for the CLI. One module per feature.
//!
//! Rules kept throughout: no fixed ports, no sleeps used as synchronisation (bounded
//! `eventually` or explicit signals instead), every loop bounded, distribution checks with
//! tolerances derived from the sample size, no shared global state between tests.

mod access_log;
mod admin;
mod admin_shoal;
mod autoscale;
mod balancing;
mod cli;
mod ctl;
mod dashboard;
mod errors;
mod gateway_auth;
mod gateway_limits;
mod gateway_rate;
mod gateway_sticky;
mod gateway_support;
mod h1_server;
mod h2;
mod h2_upstream;
mod headers;
mod health;
mod hostile;
mod lifecycle;
mod load;
mod metrics;
mod passthrough;
mod pooling;
mod processes;
mod reload;
mod retries;
mod routing;
mod shutdown;
mod support;
mod tcp;
mod tls;
mod upstream_tls;
mod websocket;
mod websocket_drain;
