//! What `report` and `replay` share: the config's store opened for reading, `--since` and
//! `--until` parsed, and the decision records paged through oldest first with their scores.

use anyhow::{Context, bail};
use routewise_config::Config;
use routewise_store::{ScoredQuery, ScoredRecord, SqlStore, Store};

/// Records read per page: memory stays bounded whatever the store holds.
const PAGE: usize = 5_000;

/// The config's store, which must exist already (reading never creates one).
pub async fn open_store(config: &Config) -> anyhow::Result<SqlStore> {
    let Some(url) = config.store.url.clone() else {
        bail!("the config keeps no store ([store] url = \"none\"): there are no records to read");
    };
    if url == "sqlite::memory:" {
        bail!("the config's store is in memory: its records went with the gateway that kept them");
    }
    if let Some(path) = url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap_or(path);
        if !std::path::Path::new(path).exists() {
            bail!("no store at {path} yet: run `routewise serve` with this config first");
        }
    }
    SqlStore::open(&url)
        .await
        .with_context(|| format!("cannot open the store at {url}"))
}

/// A point in time from `--since`/`--until`: a duration back from now (`7d`, `12h`), a date
/// (`2026-12-01`, UTC midnight) or Unix milliseconds.
pub fn parse_time(flag: &str, text: &str, now_unix_ms: u64) -> anyhow::Result<i64> {
    if let Some(start) = routewise_core::control::parse_date(text) {
        return Ok(i64::try_from(start).unwrap_or(i64::MAX));
    }
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    let back = humantime::parse_duration(text).with_context(|| {
        format!(
            "{flag} {text:?} is not a duration (7d, 12h), a date (2026-12-01) or Unix milliseconds"
        )
    })?;
    let now = i64::try_from(now_unix_ms).unwrap_or(i64::MAX);
    Ok(now.saturating_sub(i64::try_from(back.as_millis()).unwrap_or(i64::MAX)))
}

/// Calls `visit` on every record matching `query` (its `after` and `limit` are the pager's),
/// oldest first.
pub async fn each_record(
    store: &dyn Store,
    mut query: ScoredQuery,
    mut visit: impl FnMut(&ScoredRecord) -> anyhow::Result<()>,
) -> anyhow::Result<u64> {
    query.limit = PAGE;
    query.after = None;
    let mut seen = 0;
    loop {
        let page = store.scored_records(&query).await?;
        for record in &page {
            visit(record)?;
        }
        seen += page.len() as u64;
        match page.last() {
            Some(last) if page.len() == PAGE => {
                query.after = Some((last.record.created_unix_ms, last.record.request_id.clone()));
            }
            _ => return Ok(seen),
        }
    }
}
