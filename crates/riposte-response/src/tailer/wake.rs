//! What wakes a tailer at once: file notifications on the audit log's directory (inotify on
//! Linux, through `notify`). The directory, not the file, is watched, so a rotation (a new file
//! at the path) wakes the tailer as a write does. Any notification, or an error from the
//! watcher (e.g. its queue overflowed), only says "read now": what changed is found by reading,
//! so a notification that is lost, spurious or unsupported (a network file system) costs at most
//! one safety poll, never a line.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use notify::{EventKindMask, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::Notify;
use tracing::{info, warn};

pub(crate) struct Wake {
    dir: PathBuf,
    changed: Arc<Notify>,
    /// Dropping it stops the watch.
    watcher: Option<RecommendedWatcher>,
    warned: bool,
}

impl Wake {
    /// Starts watching the directory of `path` (or says why not, once, and keeps trying at
    /// each [`Wake::keep_watching`]). Set up before the first read, so that nothing written
    /// between that read and the first wait goes unnoticed.
    pub(crate) fn new(path: &Path) -> Self {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut wake = Wake {
            dir,
            changed: Arc::new(Notify::new()),
            watcher: None,
            warned: false,
        };
        wake.keep_watching();
        wake
    }

    /// Watches again if the watch could not be set up (e.g. the directory did not exist yet).
    pub(crate) fn keep_watching(&mut self) {
        if self.watcher.is_some() {
            return;
        }
        match watch(&self.dir, self.changed.clone()) {
            Ok(w) => {
                info!(dir = %self.dir.display(), "file notifications on the audit log's directory: new lines are read at once");
                self.watcher = Some(w);
            }
            Err(e) if !self.warned => {
                self.warned = true;
                warn!(dir = %self.dir.display(), error = %e, "no file notifications for the audit log's directory; new lines are read at each poll");
            }
            Err(_) => {}
        }
    }

    /// Resolves when the directory reported a change since the last call (a change while the
    /// tailer was reading is kept: `Notify` holds one permit).
    pub(crate) async fn changed(&self) {
        self.changed.notified().await
    }
}

fn watch(dir: &Path, changed: Arc<Notify>) -> notify::Result<RecommendedWatcher> {
    // Writes, creations, removals, renames and attribute changes; not opens and closes, which
    // the tailer's own reads would cause.
    let config = notify::Config::default().with_event_kinds(EventKindMask::CORE);
    let mut watcher = RecommendedWatcher::new(
        move |_: notify::Result<notify::Event>| changed.notify_one(),
        config,
    )?;
    watcher.watch(dir, RecursiveMode::NonRecursive)?;
    Ok(watcher)
}
