//! Hot reload: on a change to the config file or on SIGHUP, the file is read and compiled on a
//! blocking thread (off the request path) and the new runtime swapped in atomically. An invalid
//! file is reported and the running config stays.

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

/// Reads, compiles and swaps in `path`.
pub async fn reload(gateway: &Gateway, path: &Path) -> Result<(), ReloadError> {
    let path = path.to_owned();
    let runtime = tokio::task::spawn_blocking(move || -> Result<Runtime, ReloadError> {
        let config = routewise_config::load_file(&path)?;
        Ok(Runtime::build(config, &|var| std::env::var(var).ok())?)
    })
    .await
    .map_err(|err| ReloadError::Task(err.to_string()))??;
    gateway.swap(runtime);
    Ok(())
}

/// Reloads on file changes (when `watch` is set) and on SIGHUP until the gateway is dropped.
/// Bursts of file events (editors write several) are coalesced over 200 ms.
pub fn spawn(gateway: Gateway, path: PathBuf, watch: bool) -> std::io::Result<()> {
    let (tx, mut rx) = mpsc::channel::<&'static str>(8);
    let watcher = if watch {
        Some(watch_file(&path, tx.clone())?)
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
        // The watcher stops when dropped; it lives as long as this task.
        let _watcher = watcher;
        while let Some(cause) = rx.recv().await {
            tokio::time::sleep(Duration::from_millis(200)).await;
            while rx.try_recv().is_ok() {}
            match reload(&gateway, &path).await {
                Ok(()) => {
                    metrics::reload("ok");
                    tracing::info!("config reloaded from {} ({cause})", path.display());
                }
                Err(err) => {
                    metrics::reload("rejected");
                    tracing::error!("{err}");
                }
            }
        }
    });
    Ok(())
}

/// Watches the file's directory (editors replace files by renaming, which a watch on the file
/// itself would miss) and forwards events that concern the file.
fn watch_file(
    path: &Path,
    tx: mpsc::Sender<&'static str>,
) -> std::io::Result<notify::RecommendedWatcher> {
    let name = path.file_name().map(ToOwned::to_owned);
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        let relevant = matches!(
            event.kind,
            EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
        ) && event.paths.iter().any(|p| p.file_name() == name.as_deref());
        if relevant {
            let _ = tx.try_send("file change");
        }
    })
    .map_err(std::io::Error::other)?;
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .map_err(std::io::Error::other)?;
    Ok(watcher)
}
