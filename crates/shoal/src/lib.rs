//! shoal: the binary's library half — the commands (`run`, `check`, `demo`, `echo`, `load`) as
//! functions, so tests drive them in-process. Each command returns its exit code:
//! 0 ok, 1 runtime failure, 2 bad config or usage.

pub mod app_control;
pub mod autoscale_views;
pub mod check;
pub mod config_watch;
pub mod control;
pub mod demo;
pub mod echo;
pub mod echo_cmd;
pub mod fleet;
pub mod load_cmd;
pub mod logging;
pub mod run;
pub mod signals;

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: something failed while running.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code: the config or the command line is wrong.
pub const EXIT_BAD_CONFIG: u8 = 2;
