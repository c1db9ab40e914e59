//! shoal-proxy: the data plane. Binds listeners, runs the worker threads (one event loop
//! each, with its own SO_REUSEPORT socket per listener, as nginx's workers do), and serves
//! HTTP through the request pipeline in `http/pipeline.rs`, over TLS for https listeners
//! (`tls/`).
//!
//! It reads the current [`Snapshot`] and never changes configuration itself: a new config
//! becomes a new snapshot, swapped in whole through [`ProxyHandle::reload`].

mod access_log;
mod http;
mod l4;
mod listener;
mod proxy_handle;
mod snapshot;
mod tls;
mod worker;

pub use access_log::AccessLog;
pub use proxy_handle::{ProxyHandle, StartError};
pub use snapshot::{ListenerSnapshot, ListenerStats, RouteEntry, RouteStats, Snapshot, Target};
pub use tls::{TlsError, TlsListener, TlsStats};
