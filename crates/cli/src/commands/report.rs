//! `routewise report`: each experiment's report (arms, control and shadows, with a
//! recommendation for each candidate; see `routewise_gateway::experiments_report`) as tables
//! or JSON.

use super::load_config;
use super::logged::{open_store, parse_time};
use anyhow::{Context, bail};
use clap::Args;
use routewise_config::Config;
use routewise_config::experiments::ExperimentConfig;
use routewise_gateway::experiments_report::{ExperimentReport, experiment_report};
use routewise_learn::experiments::report::{GroupReport, Verdict};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The config with the `[[experiments]]` and the `[store]` that holds their records.
    #[arg(long, short = 'c', env = "ROUTEWISE_CONFIG")]
    config: PathBuf,
    /// One experiment (default: every experiment in the config).
    #[arg(long, short = 'e')]
    experiment: Option<String>,
    /// From: a duration back (7d, 12h), a date (2026-12-01) or Unix ms (default: all).
    #[arg(long)]
    since: Option<String>,
    /// Until (same forms; default: now).
    #[arg(long)]
    until: Option<String>,
    /// Print JSON (stable keys) instead of tables.
    #[arg(long)]
    json: bool,
}

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(Some(&args.config))?;
    let experiments = chosen(&config, args.experiment.as_deref())?;
    let now = routewise_gateway::now_unix_ms();
    let since = args
        .since
        .as_deref()
        .map(|t| parse_time("--since", t, now))
        .transpose()?;
    let until = args
        .until
        .as_deref()
        .map(|t| parse_time("--until", t, now))
        .transpose()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let reports = runtime.block_on(async {
        let store = open_store(&config).await?;
        let mut reports = Vec::new();
        for experiment in &experiments {
            reports.push(experiment_report(&store, &config, experiment, since, until).await?);
        }
        store.close().await;
        anyhow::Ok(reports)
    })?;
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "experiments": reports }))?
        )?;
    } else {
        for report in &reports {
            print_report(report)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn chosen(config: &Config, name: Option<&str>) -> anyhow::Result<Vec<ExperimentConfig>> {
    if config.experiments.is_empty() {
        bail!("the config has no [[experiments]]: there is nothing to report on");
    }
    match name {
        None => Ok(config.experiments.clone()),
        Some(name) => match config.experiments.iter().find(|e| e.name == name) {
            Some(e) => Ok(vec![e.clone()]),
            None => {
                let names: Vec<&str> = config.experiments.iter().map(|e| e.name.as_str()).collect();
                bail!(
                    "no experiment `{name}` in the config; its experiments are: {}",
                    names.join(", ")
                )
            }
        },
    }
}

fn print_report(report: &ExperimentReport) -> anyhow::Result<()> {
    let pct = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{:.1}%", v * 100.0));
    let usd = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.6}"));
    let quality = |g: &GroupReport| {
        g.quality.map_or("-".to_owned(), |q| {
            format!("{:.3} [{:.3}, {:.3}]", q.estimate, q.low, q.high)
        })
    };
    let delta = |d: Option<routewise_learn::experiments::stats::Interval>| {
        d.map_or("-".to_owned(), |d| {
            format!("{:+.3} [{:+.3}, {:+.3}]", d.estimate, d.low, d.high)
        })
    };
    outln!("experiment `{}`: {} records", report.name, report.records)?;
    outln!(
        "{:<24} {:<12} {:>8} {:>12} {:>8} {:>8} {:>6} {:>24} {:>24} {:>24}",
        "group",
        "policy",
        "requests",
        "usd/request",
        "strong",
        "savings",
        "rated",
        "quality (interval)",
        "vs control",
        "vs incumbent"
    )?;
    for g in &report.groups {
        outln!(
            "{:<24} {:<12} {:>8} {:>12} {:>8} {:>8} {:>6} {:>24} {:>24} {:>24}",
            g.name,
            g.policy.as_deref().unwrap_or("-"),
            g.requests,
            usd(g.cost_per_request_usd),
            pct(g.strong_share),
            pct(g.savings_vs_strong),
            g.rated,
            quality(g),
            delta(g.vs_control),
            delta(g.vs_incumbent),
        )?;
    }
    for r in &report.recommendations {
        let verdict = match &r.verdict {
            Verdict::CutOver => "cut over".to_owned(),
            Verdict::RollBack => "roll back".to_owned(),
            Verdict::KeepTesting { more_rated } => {
                format!("keep testing (about {more_rated} more rated requests on each side)")
            }
        };
        outln!("{} vs {}: {verdict}: {}", r.candidate, r.reference, r.why)?;
    }
    for note in &report.notes {
        outln!("note: {note}")?;
    }
    outln!()?;
    Ok(())
}
