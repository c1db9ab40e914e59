//! Log setup: human-readable lines on stderr, filtered by `SHOAL_LOG` (or `RUST_LOG`),
//! `info` by default.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = std::env::var("SHOAL_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .and_then(|s| EnvFilter::try_new(s).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
