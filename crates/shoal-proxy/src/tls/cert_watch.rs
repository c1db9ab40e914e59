//! Noticing certificate files change on disk: a task on the control thread looks at every
//! https listener's files once a second (modification time and size) and has the listener
//! reload those that changed.
//!
//! Polling rather than file-system events: certificates are renewed rarely, a few `stat`
//! calls a second cost nothing, and polling sees every way a file gets replaced (written in
//! place, renamed over, a symlink switched as Kubernetes does with secrets) without watching
//! directories the config does not name.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use shoal_core::ShutdownSignal;

use crate::proxy_handle::Shared;

/// How often the files are looked at.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// What tells a file changed: its modification time and size (following symlinks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
}

impl FileStamp {
    /// None when the file cannot be looked at (gone, unreadable directory).
    pub(crate) fn of(path: &Path) -> Option<FileStamp> {
        let meta = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            modified: meta.modified().ok(),
            len: meta.len(),
        })
    }
}

/// Runs until shutdown: every [`POLL_INTERVAL`], each https listener of the snapshot
/// serving now reloads its files if they changed.
pub(crate) async fn run(shared: Arc<Shared>, mut shutdown: ShutdownSignal) {
    loop {
        tokio::select! {
            _ = shutdown.recv() => return,
            _ = tokio::time::sleep(POLL_INTERVAL) => {}
        }
        let snapshot = shared.snapshot.load_full();
        for listener in &snapshot.listeners {
            let Some(tls) = &listener.tls else { continue };
            match tls.reload_if_changed() {
                None => {}
                Some(Ok(())) => tracing::info!(
                    listener = %listener.config.name,
                    "certificate files changed: reloaded, new handshakes use them"
                ),
                Some(Err(e)) => tracing::error!(
                    listener = %listener.config.name,
                    error = %format!("listeners.{}.tls.{e}", listener.config.name),
                    "certificate files changed but cannot be used; the previous ones keep serving"
                ),
            }
        }
    }
}
