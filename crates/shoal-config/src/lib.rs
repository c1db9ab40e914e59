//! shoal-config: reads a TOML file into a validated, typed [`Config`].
//!
//! Parsing is strict (unknown keys are errors) and validation reports every problem at once,
//! each with its dotted path and, where the file gives it, its line. This crate knows nothing of
//! runtime types (sockets, balancers, snapshots): it depends on shoal-core only.

mod types;

pub use types::*;
