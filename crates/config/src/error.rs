//! Config errors: where each problem is (file, line or field path) and what to do about it.

use std::fmt;
use std::path::Path;
use thiserror::Error;

/// One invalid value, at a field path such as `models[2].input_usd_per_mtok`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Why a config could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {message}")]
    Read { path: String, message: String },
    #[error("{}invalid TOML{}: {message}", file_prefix(.file), location_suffix(.location))]
    Parse {
        message: String,
        location: Option<(usize, usize)>,
        #[doc(hidden)]
        file: Option<String>,
    },
    #[error("{}environment variables are missing:\n{}", file_prefix(.file), bullet_list(.errors))]
    Interpolation {
        errors: Vec<FieldError>,
        file: Option<String>,
    },
    #[error("{}the config has {} error(s):\n{}", file_prefix(.file), .errors.len(), bullet_list(.errors))]
    Invalid {
        errors: Vec<FieldError>,
        file: Option<String>,
    },
}

impl ConfigError {
    /// Names the file the error came from in its message.
    pub fn in_file(self, path: &Path) -> Self {
        let name = Some(path.display().to_string());
        match self {
            ConfigError::Read { .. } => self,
            ConfigError::Parse {
                message, location, ..
            } => ConfigError::Parse {
                message,
                location,
                file: name,
            },
            ConfigError::Interpolation { errors, .. } => {
                ConfigError::Interpolation { errors, file: name }
            }
            ConfigError::Invalid { errors, .. } => ConfigError::Invalid { errors, file: name },
        }
    }

    /// Every field-level problem, for callers that show or test them one by one.
    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            ConfigError::Interpolation { errors, .. } | ConfigError::Invalid { errors, .. } => {
                errors
            }
            ConfigError::Read { .. } | ConfigError::Parse { .. } => &[],
        }
    }
}

fn file_prefix(file: &Option<String>) -> String {
    file.as_ref().map(|f| format!("{f}: ")).unwrap_or_default()
}

fn location_suffix(location: &Option<(usize, usize)>) -> String {
    location
        .map(|(line, column)| format!(" at line {line}, column {column}"))
        .unwrap_or_default()
}

fn bullet_list(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("  - {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// 1-based line and column of a byte offset.
pub fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}
