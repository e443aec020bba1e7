//! One module per `routewise` subcommand, plus the config loading they share.

pub mod calibrate;
pub mod eval;
pub mod learn_args;
pub mod route;
pub mod serve;
pub mod train;
pub mod validate;

use anyhow::Context;
use routewise_config::Config;
use std::ffi::OsString;
use std::path::Path;

/// Loads `--config`, or the built-in example config when none is given.
pub fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    match path {
        Some(path) => Ok(routewise_config::load_file(path)?),
        None => routewise_config::builtin().context("the built-in config is invalid"),
    }
}

/// Writes a file whole or not at all, through a temporary file beside it: a gateway watching a
/// config or model file must never read half of one, and a failed write keeps the old file.
pub fn write_replacing(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    // An existing file is replaced where a symlink points and keeps its permissions.
    let existing = std::fs::canonicalize(path).ok();
    let path = existing.as_deref().unwrap_or(path);
    let permissions = existing
        .as_ref()
        .and_then(|p| std::fs::metadata(p).ok())
        .map(|m| m.permissions());
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file name", path.display()))?;
    let mut temporary_name = OsString::from(".");
    temporary_name.push(name);
    temporary_name.push(".routewise-tmp");
    let temporary = path.with_file_name(temporary_name);
    let written = std::fs::write(&temporary, bytes)
        .and_then(|()| match permissions {
            Some(permissions) => std::fs::set_permissions(&temporary, permissions),
            None => Ok(()),
        })
        .and_then(|()| std::fs::rename(&temporary, path))
        .with_context(|| format!("cannot write {}", path.display()));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

/// Fails early, before minutes of work, when `path` cannot be an output file.
pub fn check_output_path(path: &Path) -> anyhow::Result<()> {
    if path.is_dir() {
        anyhow::bail!("{} is a directory: give a file name", path.display());
    }
    let directory = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(directory) = directory.filter(|d| !d.is_dir()) {
        anyhow::bail!(
            "cannot write {}: directory {} does not exist; create it first",
            path.display(),
            directory.display()
        );
    }
    Ok(())
}
