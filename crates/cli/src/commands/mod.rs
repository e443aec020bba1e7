//! One module per `routewise` subcommand, plus the config loading they share.

pub mod calibrate;
pub mod eval;
pub mod export;
pub mod learn_args;
pub mod logged;
pub mod replay;
pub mod report;
pub mod rollout;
pub mod route;
pub mod serve;
pub mod simulate;
pub mod train;
pub mod validate;

use anyhow::Context;
use routewise_config::Config;
use std::io::Write;
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
    let directory = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let write = || -> std::io::Result<()> {
        // Dropped on any error below, which deletes the temporary file.
        let mut temporary = tempfile::NamedTempFile::new_in(directory)?;
        temporary.write_all(bytes)?;
        match existing.as_ref().and_then(|p| std::fs::metadata(p).ok()) {
            Some(metadata) => temporary
                .as_file()
                .set_permissions(metadata.permissions())?,
            // Temporary files are private (0600); a new config or model file should be readable
            // like any file the user creates, e.g. by a gateway running as another user.
            #[cfg(unix)]
            None => {
                use std::os::unix::fs::PermissionsExt;
                temporary
                    .as_file()
                    .set_permissions(std::fs::Permissions::from_mode(0o644))?;
            }
            #[cfg(not(unix))]
            None => {}
        }
        temporary.persist(path).map_err(|e| e.error)?;
        Ok(())
    };
    write().with_context(|| format!("cannot write {}", path.display()))
}

/// Writes text whole (see [`write_replacing`]), gzip-compressed when the name ends in `.gz`.
pub fn write_text_file(path: &Path, text: &str) -> anyhow::Result<()> {
    let bytes = if path.extension().is_some_and(|e| e == "gz") {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text.as_bytes())?;
        gz.finish()?
    } else {
        text.as_bytes().to_vec()
    };
    write_replacing(path, &bytes)
}

/// Fails early, before minutes of work, when `path` cannot be an output file.
pub fn check_output_path(path: &Path) -> anyhow::Result<()> {
    if path.is_dir() {
        anyhow::bail!("{} is a directory: give a file name", path.display());
    }
    let directory = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !directory.is_dir() {
        anyhow::bail!(
            "cannot write {}: directory {} does not exist; create it first",
            path.display(),
            directory.display()
        );
    }
    // Files are written through a temporary file in the same directory (`write_replacing`), so
    // creating one there is the real test; it is deleted when dropped.
    tempfile::NamedTempFile::new_in(directory).with_context(|| {
        format!(
            "cannot write {}: no file can be created in {}",
            path.display(),
            directory.display()
        )
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_replacing_swaps_the_whole_file_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("routewise.toml");
        write_replacing(&path, b"first").unwrap();
        write_replacing(&path, b"second").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "second");
        let missing = dir.path().join("no-such-dir").join("model.json");
        assert!(write_replacing(&missing, b"x").is_err());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["routewise.toml"], "no temporary file is left");
    }

    #[test]
    fn output_paths_are_checked_before_any_work() {
        let dir = tempfile::tempdir().unwrap();
        assert!(check_output_path(&dir.path().join("model.json")).is_ok());
        assert!(
            check_output_path(Path::new("model.json")).is_ok(),
            "the working directory"
        );
        let error = check_output_path(dir.path()).unwrap_err().to_string();
        assert!(error.contains("is a directory"), "{error}");
        let missing = dir.path().join("nope").join("model.json");
        let error = check_output_path(&missing).unwrap_err().to_string();
        assert!(error.contains("does not exist"), "{error}");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "the probe is gone"
        );
    }

    /// Even root cannot create files in procfs: an existing directory that is not writable.
    #[cfg(target_os = "linux")]
    #[test]
    fn an_unwritable_directory_is_refused_up_front() {
        let error = check_output_path(Path::new("/proc/routewise-model.json"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("no file can be created in /proc"), "{error}");
    }

    #[cfg(unix)]
    #[test]
    fn write_replacing_keeps_permissions_and_writes_through_symlinks() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("fresh.json");
        write_replacing(&fresh, b"{}").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&fresh), 0o644, "a new file is readable like any other");

        let target = dir.path().join("config.toml");
        std::fs::write(&target, "old").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
        let link = dir.path().join("link.toml");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_replacing(&link, b"new").unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        assert_eq!(mode(&target), 0o600);
    }
}
