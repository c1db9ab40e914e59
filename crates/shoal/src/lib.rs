//! shoal: the binary's library half — the commands (`run`, `check`, `demo`, `echo`, `ctl`, `load`) as
//! functions, so tests drive them in-process. Each command returns its exit code:
//! 0 ok, 1 runtime failure, 2 bad config or usage.

pub mod app_control;
pub mod autoscale_views;
pub mod check;
pub mod config_watch;
pub mod control;
pub mod ctl;
pub mod demo;
pub mod echo;
pub mod echo_cmd;
pub mod event_log;
pub mod fleet;
pub mod load_cmd;
pub mod logging;
pub mod metrics;
pub mod run;
pub mod signals;

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: something failed while running.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code: the config or the command line is wrong.
pub const EXIT_BAD_CONFIG: u8 = 2;

/// Reads and validates a config file, the contents of the files its filters and sticky
/// upstreams name included (JWT keys, API key and password lists, schemas, cookie keys):
/// what `run`, `check` and every reload accept.
pub fn load_config(
    path: &std::path::Path,
) -> Result<shoal_config::Config, shoal_config::ConfigErrors> {
    let config = shoal_config::Config::load(path)?;
    shoal_gateway::check(&config)?;
    Ok(config)
}
