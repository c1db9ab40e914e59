//! Children that cannot outlive shoal, without `unsafe`.
//!
//! `PR_SET_PDEATHSIG` must be set in the child between `fork` and `exec`, which from Rust
//! needs `CommandExt::pre_exec` (unsafe). Instead the process provider starts each instance
//! through shoal's own binary: `shoal exec-guarded --parent PID -- PROGRAM ARGS...` sets the
//! signal with nix's safe `prctl` wrapper, checks that its parent is still the one that
//! spawned it (it may have died in between), then `exec`s the program in place — same pid,
//! and the death signal survives `exec`. If shoal dies in any way, SIGKILL included, the
//! kernel sends the instance SIGKILL.
//!
//! Linux delivers the death signal when the *thread* that forked the child exits, so the
//! process provider spawns only from the autoscaler's own long-lived thread.

use std::os::unix::process::CommandExt;

use nix::sys::signal::Signal;

/// The hidden subcommand's name.
pub const EXEC_GUARDED: &str = "exec-guarded";

/// The guard's side: arms the death signal and becomes `argv`. Returns only on failure,
/// with what went wrong.
pub fn exec_guarded(parent: i32, argv: &[String]) -> String {
    let Some((program, args)) = argv.split_first() else {
        return "no program given".to_string();
    };
    if let Err(e) = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL) {
        return format!("cannot arm the parent-death signal: {e}");
    }
    // The parent may have died before the signal was armed: then nobody would kill us.
    if nix::unistd::getppid().as_raw() != parent {
        return format!("parent {parent} is gone");
    }
    let error = std::process::Command::new(program).args(args).exec();
    format!("cannot run {program:?}: {error}")
}
