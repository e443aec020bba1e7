//! `routewise export`: rated requests from the store, written in the benchmark format, so that
//! `train`, `eval` and `calibrate` run on the user's own traffic.
//!
//! A request is exported when it was rated and its query was logged (`[store] log_prompts =
//! true`): one line `{"id", "benchmark": "routewise", "category", "prompt", "scores": {model:
//! latest score}, "costs": {model: usd}, "meta"}`. The category is the request's task type, the
//! unit that `eval` and `train` keep apart between training and test.

use super::{check_output_path, load_config, write_text_file};
use anyhow::{Context, bail};
use clap::Args;
use routewise_learn::bench::BenchmarkRecord;
use routewise_store::{DecisionRecord, FeedbackRecord, SqlStore, Store};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The config whose [store] holds the records.
    #[arg(long, short = 'c', env = "ROUTEWISE_CONFIG")]
    config: PathBuf,
    /// Where to write the JSONL (gzip-compressed when the name ends in .gz).
    #[arg(long)]
    out: PathBuf,
    /// Only requests made in the last this long, e.g. 7d, 12h (default: all).
    #[arg(long)]
    since: Option<String>,
}

pub fn run(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(Some(&args.config))?;
    let Some(url) = config.store.url.clone() else {
        bail!("the config keeps no store ([store] url = \"none\"): nothing to export");
    };
    if let Some(path) = url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap_or(path);
        if !std::path::Path::new(path).exists() {
            bail!("no store at {path} yet: run `routewise serve` with this config first");
        }
    }
    check_output_path(&args.out)?;
    let since = match &args.since {
        None => 0,
        Some(text) => {
            let window = humantime::parse_duration(text)
                .with_context(|| format!("--since {text:?} is not a duration such as 7d or 12h"))?;
            now_unix_ms().saturating_sub(i64::try_from(window.as_millis()).unwrap_or(i64::MAX))
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let (rows, rated) = runtime.block_on(async {
        let store = SqlStore::open(&url).await?;
        let rows = store.rated_with_prompts(since).await?;
        let rated = store.rated(usize::MAX).await?.len();
        store.close().await;
        anyhow::Ok((rows, rated))
    })?;
    let mut text = String::new();
    for (record, feedback) in &rows {
        let line = benchmark_line(record, feedback)?;
        text.push_str(&serde_json::to_string(&line)?);
        text.push('\n');
    }
    write_text_file(&args.out, &text)?;
    eprintln!(
        "wrote {} rated request(s) to {}",
        rows.len(),
        args.out.display()
    );
    let unlogged = rated.saturating_sub(rows.len());
    if unlogged > 0 && args.since.is_none() {
        eprintln!(
            "{unlogged} rated request(s) had no logged prompt and were left out: set [store] log_prompts = true to keep prompts"
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn benchmark_line(
    record: &DecisionRecord,
    feedback: &FeedbackRecord,
) -> anyhow::Result<BenchmarkRecord> {
    let body: Value = serde_json::from_str(&record.body).unwrap_or(Value::Null);
    let category = body["decision"]["signals"]["task_type"]
        .as_str()
        .unwrap_or("unknown")
        .to_owned();
    let (Some(model), Some(prompt)) = (&record.model, &record.prompt) else {
        bail!("record {} lacks its model or prompt", record.request_id);
    };
    let meta = json!({
        "created_unix_ms": record.created_unix_ms,
        "route": record.route,
        "policy": record.policy,
        "reason": record.reason,
        "feedback_source": feedback.source.as_str(),
        "feedback_comment": feedback.comment,
    });
    Ok(BenchmarkRecord {
        id: record.request_id.clone(),
        benchmark: "routewise".to_owned(),
        category,
        prompt: prompt.clone(),
        scores: [(model.clone(), feedback.score)].into(),
        costs: Some([(model.clone(), record.cost_usd)].into()),
        meta: meta.as_object().cloned().unwrap_or_default(),
    })
}

fn now_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
