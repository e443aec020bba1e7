//! Hot reload: on a change to the config file or to the learned model file it names, or on
//! SIGHUP, the config is read and compiled on a blocking thread (off the request path) and the
//! new runtime swapped in atomically. An invalid file is reported and the running config stays.

use crate::{BuildError, Gateway, Runtime, metrics};
use notify::{EventKind, RecursiveMode, Watcher};
use routewise_config::ConfigError;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;
use tokio::sync::mpsc;

/// Why a reload was refused.
#[derive(Debug, Error)]
pub enum ReloadError {
    #[error("the new config is invalid, keeping the running one: {0}")]
    Config(#[from] ConfigError),
    #[error("the new config cannot be served, keeping the running one: {0}")]
    Build(#[from] BuildError),
    #[error("the reload task failed: {0}")]
    Task(String),
}

/// Reads, compiles and swaps in `path`; returns the files the new config is made of.
pub async fn reload(gateway: &Gateway, path: &Path) -> Result<Vec<PathBuf>, ReloadError> {
    let path = path.to_owned();
    let (runtime, files) =
        tokio::task::spawn_blocking(move || -> Result<(Runtime, Vec<PathBuf>), ReloadError> {
            let config = routewise_config::load_file(&path)?;
            let files = routewise_config::source_files(&path, &config);
            Ok((
                Runtime::build(config, &|var| std::env::var(var).ok())?,
                files,
            ))
        })
        .await
        .map_err(|err| ReloadError::Task(err.to_string()))??;
    let (was, now) = (
        gateway.runtime().config.server.listen,
        runtime.config.server.listen,
    );
    if was != now {
        tracing::warn!(
            "[server] listen changed from {was} to {now}: the new address takes a restart; the gateway keeps listening where it is"
        );
    }
    let old = gateway.runtime();
    for (section, changed) in [
        (
            "[store] url",
            old.config.store.url != runtime.config.store.url,
        ),
        ("[shared]", old.config.shared != runtime.config.shared),
        (
            "[server] worker_threads",
            old.config.server.worker_threads != runtime.config.server.worker_threads,
        ),
    ] {
        if changed {
            tracing::warn!(
                "{section} changed: that takes a restart; the gateway keeps the one it started with"
            );
        }
    }
    for change in gateway.swap(runtime) {
        tracing::info!("{change}");
    }
    Ok(files)
}

/// Reloads on changes to `files` (when `watch` is set; the config file first, then what it
/// names) and on SIGHUP until the gateway is dropped. Bursts of file events (editors write
/// several) are coalesced over 200 ms. After a reload the watch follows the new config's files;
/// after a rejected one it also covers the files the rejected config names.
pub fn spawn(gateway: Gateway, files: Vec<PathBuf>, watch: bool) -> std::io::Result<()> {
    let Some(path) = files.first().cloned() else {
        return Err(std::io::Error::other("no config file to reload from"));
    };
    let (tx, mut rx) = mpsc::channel::<&'static str>(8);
    let mut watch = if watch {
        Some(FileWatch::new(files, tx.clone())?)
    } else {
        None
    };
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let signals = tx;
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            if signals.send("SIGHUP").await.is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        while let Some(cause) = rx.recv().await {
            tokio::time::sleep(Duration::from_millis(200)).await;
            while rx.try_recv().is_ok() {}
            match reload(&gateway, &path).await {
                Ok(files) => {
                    tracing::info!("config reloaded from {} ({cause})", path.display());
                    if let Some(Err(err)) = watch.as_mut().map(|w| w.follow(files)) {
                        tracing::error!(
                            "cannot watch the new config's files, keeping the old watch: {err}"
                        );
                    }
                    metrics::reload("ok");
                }
                Err(err) => {
                    tracing::error!("{err}");
                    if let Some(watch) = watch.as_mut() {
                        watch_rejected_files(watch, &path).await;
                    }
                    // Counted once the watch covers the rejected config's files, so whoever sees
                    // the count can rely on a file written from then on being noticed.
                    metrics::reload("rejected");
                }
            }
        }
    });
    Ok(())
}

/// The rejected config may name a model file that does not exist yet or is being fixed: watch it
/// too, or writing it would go unnoticed until the config is touched again. The running config's
/// files stay watched. A newly watched file that exists by the time the watch is in place may have
/// been written after the failed read, unseen: it is reloaded once more rather than missed.
async fn watch_rejected_files(watch: &mut FileWatch, config: &Path) {
    let config = config.to_owned();
    let named = tokio::task::spawn_blocking(move || routewise_config::named_files(&config))
        .await
        .unwrap_or_default();
    let added: Vec<PathBuf> = named
        .into_iter()
        .filter(|f| !watch.files.contains(f))
        .collect();
    let mut files = watch.files.clone();
    files.extend(added.iter().cloned());
    if let Err(err) = watch.follow(files) {
        tracing::warn!("cannot watch the files the rejected config names: {err}");
        return;
    }
    if added.iter().any(|f| f.exists()) {
        let _ = watch
            .events
            .try_send("a file the rejected config names appeared");
    }
}

/// The reload task's file watch: which files it covers, and how to move it to others.
struct FileWatch {
    /// Kept alive for as long as the watch should run: the watcher stops when dropped.
    _watcher: notify::RecommendedWatcher,
    files: Vec<PathBuf>,
    events: mpsc::Sender<&'static str>,
}

impl FileWatch {
    fn new(files: Vec<PathBuf>, events: mpsc::Sender<&'static str>) -> std::io::Result<Self> {
        Ok(Self {
            _watcher: watch_files(&files, events.clone())?,
            files,
            events,
        })
    }

    /// Watches `files` instead, unless they are the ones watched already; on error the old
    /// watch stays.
    fn follow(&mut self, files: Vec<PathBuf>) -> std::io::Result<()> {
        if files != self.files {
            self._watcher = watch_files(&files, self.events.clone())?;
            self.files = files;
        }
        Ok(())
    }
}

/// Watches the files' directories (editors replace files by renaming, which a watch on the
/// file itself would miss) and forwards events that concern one of the files.
fn watch_files(
    files: &[PathBuf],
    tx: mpsc::Sender<&'static str>,
) -> std::io::Result<notify::RecommendedWatcher> {
    let absolute = |path: &Path| std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let targets: Vec<PathBuf> = files.iter().map(|f| absolute(f)).collect();
    let matching = targets.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        let relevant = matches!(
            event.kind,
            EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
        ) && event.paths.iter().any(|p| matching.contains(&absolute(p)));
        if relevant {
            let _ = tx.try_send("file change");
        }
    })
    .map_err(std::io::Error::other)?;
    let mut dirs: Vec<PathBuf> = targets
        .iter()
        .filter_map(|t| t.parent().map(Path::to_path_buf))
        .collect();
    dirs.sort();
    dirs.dedup();
    for dir in dirs {
        watcher
            .watch(&dir, RecursiveMode::NonRecursive)
            .map_err(std::io::Error::other)?;
    }
    Ok(watcher)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The window the operations test once lost: the model file a rejected config names is
    /// written after the failed read but before the watch covers it. No file event will come
    /// for it, so the task must reload on its own.
    #[tokio::test]
    async fn a_named_file_written_before_the_watch_covers_it_is_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("routewise.toml");
        std::fs::write(&config, "[routing.learned]\nmodel = \"next.json\"\n").unwrap();
        let (tx, mut rx) = mpsc::channel(8);
        let mut watch = FileWatch::new(vec![config.clone()], tx).unwrap();
        std::fs::write(dir.path().join("next.json"), "{}").unwrap();

        watch_rejected_files(&mut watch, &config).await;

        assert_eq!(watch.files, vec![config, dir.path().join("next.json")]);
        let cause = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
        assert_eq!(
            cause.ok().flatten(),
            Some("a file the rejected config names appeared")
        );
    }

    #[tokio::test]
    async fn a_named_file_still_missing_is_watched_without_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("routewise.toml");
        std::fs::write(&config, "[routing.learned]\nmodel = \"next.json\"\n").unwrap();
        let (tx, mut rx) = mpsc::channel(8);
        let mut watch = FileWatch::new(vec![config.clone()], tx).unwrap();

        watch_rejected_files(&mut watch, &config).await;

        assert_eq!(watch.files.len(), 2);
        assert!(
            rx.try_recv().is_err(),
            "nothing appeared, nothing to reload"
        );
    }
}
