//! The admin API over real HTTP on 127.0.0.1:0, against an in-memory [`Control`].
//!
//! [`Control`]: shoal_admin::Control

mod auth;
mod backends;
mod dashboard;
mod errors;
mod events;
mod fake_control;
mod harness;
mod metrics;
mod openapi;
mod reads;
mod server;
