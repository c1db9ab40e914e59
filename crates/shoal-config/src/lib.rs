//! shoal-config: reads a TOML file into a validated, typed [`Config`].
//!
//! Parsing is strict (unknown keys are errors) and validation reports every problem at once,
//! each with its dotted path and, where the file gives it, its line. This crate knows nothing of
//! runtime types (sockets, balancers, snapshots): it depends on shoal-core, and on shoal-tls to
//! check a loaded file's certificates.
//!
//! ```
//! let config = shoal_config::Config::from_toml_str(r#"
//!     [listeners.web]
//!     bind = "127.0.0.1:8080"
//!     [[listeners.web.routes]]
//!     upstream = "api"
//!     [upstreams.api]
//!     backends = ["127.0.0.1:9001"]
//! "#).expect("valid");
//! assert_eq!(config.listeners[0].routes.len(), 1);
//!
//! let errors = shoal_config::Config::from_toml_str("[listeners.web]\nbind = \"nowhere\"\n")
//!     .expect_err("invalid");
//! assert!(errors.to_string().contains("listeners.web.bind (line 2)"));
//! ```
//!
//! The file is walked by hand over toml's spanned document (`document.rs`) rather than
//! deserialised with serde derive, because derive stops at the first error and loses lines.

mod access_log;
mod admin;
mod autoscale;
mod config;
mod document;
mod error;
mod files;
mod filter;
mod filter_kinds;
mod filter_types;
mod health;
mod listener;
mod listener_tls;
mod outlier;
mod route;
mod route_match;
mod size;
mod sticky;
mod suggest;
mod summary;
mod summary_filters;
mod types;
mod upstream;
mod upstream_tls;

pub use autoscale::{
    AutoscaleConfig, CommandProviderConfig, KubernetesProviderConfig, PortRef,
    ProcessProviderConfig, ProviderConfig, ScaleRule, ScaleTarget, Step, DEFAULT_SCALE_DOWN,
    DEFAULT_SCALE_UP,
};
pub use error::{ConfigError, ConfigErrors};
pub use files::MAX_FILTER_FILE_BYTES;
pub use filter_types::*;
pub use summary::{render_match, summary, target_text};
pub use types::*;
