//! Each filter through the public API: a config with `[filters.NAME]`, compiled by
//! `Gateway`, run as a route's chain on a request. Keys and tokens are made here, at test
//! time (rcgen EC keys, an RSA key from the rsa crate, random secrets): nothing checked in
//! can expire.
//!
//! One module per group of filters; `support.rs` holds what they share.

mod credentials;
mod jwt;
mod rate_limit;
mod request_rules;
mod support;
