//! `routewise report`: an experiment's arms, control and shadows from the store's decision
//! records and feedback: requests, cost per request, strong share, savings against
//! always-strong, quality with its interval and its deltas against control and the incumbent,
//! then a recommendation for each candidate (cut over, keep testing, roll back).
//!
//! Shadows never served, so their cost is the decision's estimate and their quality is
//! estimated on the rated requests: the served score where the shadow chose the served model,
//! else the mean score of the shadow's model on the most similar rated requests it served
//! (memory's fingerprints), else that model's mean score.

use super::load_config;
use super::logged::{each_record, open_store, parse_time};
use anyhow::{Context, bail};
use clap::Args;
use routewise_config::Config;
use routewise_config::experiments::{CONTROL_ARM, ExperimentConfig};
use routewise_core::memory::Fingerprint;
use routewise_learn::experiments::report::{
    GroupReport, Observation, Recommendation, Tally, Verdict, recommend,
};
use routewise_store::{ScoredQuery, ScoredRecord};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::ExitCode;

/// Rated requests per model that shadow estimates search for neighbours.
const POOL: usize = 2_000;
const NEIGHBOURS: usize = 10;
/// Fingerprint similarity below which a rated request is not "similar".
const MIN_SIMILARITY: f64 = 0.3;

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

#[derive(Debug, Serialize)]
struct ExperimentReport {
    name: String,
    records: u64,
    groups: Vec<GroupReport>,
    recommendations: Vec<Recommendation>,
    notes: Vec<String>,
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
            let query = ScoredQuery {
                since_unix_ms: since,
                until_unix_ms: until,
                experiment: Some(experiment.name.clone()),
                ..ScoredQuery::default()
            };
            let mut groups = Groups::new(&config);
            let records = each_record(&store, query, |r| {
                groups.add(r);
                Ok(())
            })
            .await?;
            reports.push(groups.report(experiment, records));
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

/// A shadow's decision on one rated request, waiting for its quality estimate.
#[derive(Debug)]
struct ShadowRated {
    policy: String,
    model: String,
    fingerprint: Option<Fingerprint>,
}

/// The tallies of one experiment's records.
struct Groups<'a> {
    config: &'a Config,
    arms: BTreeMap<String, (Tally, Option<String>)>,
    shadows: BTreeMap<String, Tally>,
    /// Shadow decisions on rated requests that chose another model than the served one.
    pending: Vec<ShadowRated>,
    /// Rated served requests by model: (fingerprint, score), newest kept.
    pool: HashMap<String, Vec<(Option<Fingerprint>, f64)>>,
}

impl<'a> Groups<'a> {
    fn new(config: &'a Config) -> Self {
        Groups {
            config,
            arms: BTreeMap::new(),
            shadows: BTreeMap::new(),
            pending: Vec::new(),
            pool: HashMap::new(),
        }
    }

    fn strong(&self, model: &str) -> bool {
        let catalog = &self.config.catalog;
        catalog
            .model(model)
            .is_some_and(|m| m.tier >= catalog.top_tier())
    }

    fn add(&mut self, scored: &ScoredRecord) {
        let r = &scored.record;
        let served = r.status == 200 && r.model.is_some();
        let group = r.arm.clone().unwrap_or_else(|| "served".to_owned());
        let strong = r.model.as_deref().is_some_and(|m| self.strong(m));
        let entry = self
            .arms
            .entry(group)
            .or_insert_with(|| (Tally::default(), r.policy.clone()));
        entry.0.add(Observation {
            served,
            strong,
            cost_usd: r.cost_usd,
            baseline_cost_usd: r.baseline_cost_usd,
            score: scored.score,
        });
        let fingerprint = r.fingerprint.as_deref().and_then(Fingerprint::from_bytes);
        if let (Some(model), Some(score)) = (&r.model, scored.score) {
            let pool = self.pool.entry(model.clone()).or_default();
            pool.push((fingerprint, score));
            if pool.len() > POOL {
                pool.remove(0);
            }
        }
        let body: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
        let decision = &body["decision"];
        let baseline = decision["baseline_cost_usd"].as_f64().unwrap_or(0.0);
        for shadow in decision["shadow"].as_array().into_iter().flatten() {
            let (Some(policy), Some(model)) = (shadow["policy"].as_str(), shadow["model"].as_str())
            else {
                continue;
            };
            let agrees = r.model.as_deref() == Some(model);
            let strong = self.strong(model);
            self.shadows
                .entry(policy.to_owned())
                .or_default()
                .add(Observation {
                    served: true,
                    strong,
                    cost_usd: shadow["estimated_cost_usd"].as_f64().unwrap_or(0.0),
                    baseline_cost_usd: baseline,
                    score: scored.score.filter(|_| agrees),
                });
            if scored.score.is_some() && !agrees {
                self.pending.push(ShadowRated {
                    policy: policy.to_owned(),
                    model: model.to_owned(),
                    fingerprint,
                });
            }
        }
    }

    /// A shadow's quality where it chose another model: its neighbours' mean, else the
    /// model's mean; `None` if that model was never rated.
    fn estimate(&self, shadow: &ShadowRated) -> Option<(f64, bool)> {
        let pool = self.pool.get(&shadow.model).filter(|p| !p.is_empty())?;
        if let Some(fingerprint) = &shadow.fingerprint {
            let mut near: Vec<(f64, f64)> = pool
                .iter()
                .filter_map(|(f, s)| f.as_ref().map(|f| (f.similarity(fingerprint), *s)))
                .filter(|(sim, _)| *sim >= MIN_SIMILARITY)
                .collect();
            near.sort_by(|a, b| b.0.total_cmp(&a.0));
            near.truncate(NEIGHBOURS);
            if !near.is_empty() {
                return Some((
                    near.iter().map(|(_, s)| s).sum::<f64>() / near.len() as f64,
                    true,
                ));
            }
        }
        Some((
            pool.iter().map(|(_, s)| s).sum::<f64>() / pool.len() as f64,
            false,
        ))
    }

    fn report(mut self, experiment: &ExperimentConfig, records: u64) -> ExperimentReport {
        let mut notes = Vec::new();
        let (mut by_neighbours, mut by_mean, mut unestimated) = (0u64, 0u64, 0u64);
        for pending in std::mem::take(&mut self.pending) {
            match self.estimate(&pending) {
                Some((score, near)) => {
                    if near {
                        by_neighbours += 1
                    } else {
                        by_mean += 1
                    }
                    if let Some(tally) = self.shadows.get_mut(&pending.policy) {
                        tally.quality.add(score);
                    }
                }
                None => unestimated += 1,
            }
        }
        if by_neighbours + by_mean + unestimated > 0 {
            notes.push(format!(
                "shadow quality where a shadow chose another model than the served one: {by_neighbours} estimated from similar rated requests, {by_mean} from the model's mean score, {unestimated} not estimable (that model was never rated); shadow costs are the decisions' estimates"
            ));
        }
        let confidence = experiment.confidence;
        let control = self.arms.get(CONTROL_ARM).map(|(t, _)| t.clone());
        let incumbent_name = experiment
            .incumbent_arm()
            .map_or_else(|| "served".to_owned(), |a| a.name.clone());
        let incumbent = self.arms.get(&incumbent_name).map(|(t, _)| t.clone());
        let mut groups = Vec::new();
        for (name, (tally, policy)) in &self.arms {
            let kind = match name.as_str() {
                CONTROL_ARM => "control",
                "served" => "served",
                _ => "arm",
            };
            // The control's requests were decided by each arm's policy, then forced strongest.
            let policy = match kind {
                "control" => Some("strongest".to_owned()),
                _ => experiment
                    .arms
                    .iter()
                    .find(|a| &a.name == name)
                    .map(|a| a.policy.clone())
                    .or_else(|| policy.clone()),
            };
            let versus_control = control.as_ref().filter(|_| kind != "control");
            let versus_incumbent = incumbent.as_ref().filter(|_| *name != incumbent_name);
            groups.push(GroupReport::of(
                name,
                kind,
                policy.as_deref(),
                tally,
                versus_control,
                versus_incumbent,
                confidence,
            ));
        }
        for (policy, tally) in &self.shadows {
            groups.push(GroupReport::of(
                &format!("shadow:{policy}"),
                "shadow",
                Some(policy),
                tally,
                control.as_ref(),
                incumbent.as_ref(),
                confidence,
            ));
        }
        let mut recommendations = Vec::new();
        if let Some(reference) = &incumbent {
            for (name, (tally, _)) in &self.arms {
                if *name != incumbent_name && name != CONTROL_ARM {
                    recommendations.push(recommend(
                        (name, &tally.quality),
                        (&incumbent_name, &reference.quality),
                        experiment.tolerance,
                        confidence,
                    ));
                }
            }
            for (policy, tally) in &self.shadows {
                recommendations.push(recommend(
                    (&format!("shadow:{policy}"), &tally.quality),
                    (&incumbent_name, &reference.quality),
                    experiment.tolerance,
                    confidence,
                ));
            }
        } else if records > 0 {
            notes.push(format!(
                "no records of the incumbent `{incumbent_name}` yet: nothing to compare with"
            ));
        }
        if records == 0 {
            notes.push("no decision records of this experiment in the range: is the gateway serving this config, with a store?".to_owned());
        }
        ExperimentReport {
            name: experiment.name.clone(),
            records,
            groups,
            recommendations,
            notes,
        }
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
