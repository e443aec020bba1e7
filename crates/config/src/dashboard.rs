//! `[dashboard]`: the operator's page at `GET /dashboard` and the JSON API under
//! `/v1/dashboard` that it reads. On by default; its data is behind the client keys, or behind
//! its own admin key when `key_sha256` is set (then client keys cannot read it: the dashboard
//! shows every caller's decisions).

use crate::compile::Errors;
use crate::server::{SHA256_HINT, sha256_hex};
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDashboard {
    /// Serve the page and its API (default true).
    pub enabled: Option<bool>,
    /// Hex SHA-256 of the admin key that alone may read the dashboard's data.
    pub key_sha256: Option<String>,
}

/// The compiled `[dashboard]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardConfig {
    pub enabled: bool,
    /// The admin key's digest; `None`: the client keys (or nothing, when auth is off).
    pub key_sha256: Option<[u8; 32]>,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        DashboardConfig {
            enabled: true,
            key_sha256: None,
        }
    }
}

pub(crate) fn compile_dashboard(raw: &RawDashboard, errors: &mut Errors) -> DashboardConfig {
    let key_sha256 = raw.key_sha256.as_deref().and_then(|hex| {
        let digest = sha256_hex(hex.trim());
        if digest.is_none() {
            errors.push("dashboard.key_sha256", SHA256_HINT.to_owned());
        }
        digest
    });
    DashboardConfig {
        enabled: raw.enabled.unwrap_or(true),
        key_sha256,
    }
}
