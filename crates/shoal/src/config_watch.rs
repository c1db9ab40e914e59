//! Watches the config file and says when it changed, so `shoal run` reloads it without a
//! signal. The directory is watched, not the file: editors and deploy tools replace a file
//! by writing a new one and renaming it over the old, which a watch on the file itself would
//! miss.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc::{self, UnboundedReceiver};

/// Changes arriving this close together are one change (a write is often several events).
const SETTLE: Duration = Duration::from_millis(200);

pub struct ConfigWatch {
    // Dropping the watcher stops the watch.
    _watcher: RecommendedWatcher,
    changes: UnboundedReceiver<()>,
}

impl ConfigWatch {
    pub fn new(path: &Path) -> notify::Result<ConfigWatch> {
        let path = std::path::absolute(path)?;
        let name: OsString = path
            .file_name()
            .map(OsString::from)
            .ok_or_else(|| notify::Error::generic("the config path names no file"))?;
        let dir = path
            .parent()
            .ok_or_else(|| notify::Error::generic("the config file has no directory"))?
            .to_path_buf();
        let (tx, changes) = mpsc::unbounded_channel();
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<Event>| {
            let Ok(event) = event else { return };
            let relevant = matches!(
                event.kind,
                EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
            ) && event
                .paths
                .iter()
                .any(|p| p.file_name() == Some(name.as_os_str()));
            if relevant {
                let _ = tx.send(());
            }
        })?;
        watcher.watch(&dir, RecursiveMode::NonRecursive)?;
        Ok(ConfigWatch {
            _watcher: watcher,
            changes,
        })
    }

    /// Resolves once the file changed and has stopped changing for a moment.
    pub async fn changed(&mut self) {
        if self.changes.recv().await.is_none() {
            // The watcher is gone: never resolve again.
            std::future::pending::<()>().await;
        }
        loop {
            match tokio::time::timeout(SETTLE, self.changes.recv()).await {
                Ok(Some(())) => continue,
                _ => return,
            }
        }
    }
}
