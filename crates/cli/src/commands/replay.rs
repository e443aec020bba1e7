//! `routewise replay`: logged traffic through a candidate policy. Each stored decision record
//! whose query was logged (`[store] log_prompts = true`) is analysed and decided again by the
//! candidate (with the learned state the store holds, memory left out: it knows feedback that
//! came after the request). Reported: counterfactual cost (the candidate's model at the
//! record's own token counts), strong share, agreement with what was served, and the
//! candidate's quality by off-policy evaluation (IPS, SNIPS, doubly robust) from the logged
//! propensities and scores (`routewise_learn::experiments::offpolicy`).

use super::load_config;
use super::logged::{each_record, open_store, parse_time};
use anyhow::{Context, bail};
use clap::Args;
use routewise_core::{ChatInput, Decision, RequestContext};
use routewise_gateway::decide::{self, Adjustments, Choose, DecisionStage, Draft};
use routewise_gateway::{Gateway, Runtime};
use routewise_learn::experiments::offpolicy::{Estimates, Logged, estimate};
use routewise_learn::experiments::stats::Moments;
use routewise_store::{ScoredQuery, ScoredRecord, Store};
use serde::Serialize;
use serde_json::Value;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The config whose `[store]` holds the records and that defines the candidate policy.
    #[arg(long, short = 'c', env = "ROUTEWISE_CONFIG")]
    config: PathBuf,
    /// The candidate: a configured policy (built-in or `[policies.NAME]`).
    #[arg(long, short = 'p')]
    policy: String,
    /// Only one experiment's records.
    #[arg(long, short = 'e')]
    experiment: Option<String>,
    /// From: a duration back (7d, 12h), a date (2026-12-01) or Unix ms (default: all).
    #[arg(long)]
    since: Option<String>,
    /// Until (same forms; default: now).
    #[arg(long)]
    until: Option<String>,
    /// Confidence of the intervals.
    #[arg(long, default_value_t = 0.95)]
    confidence: f64,
    /// Print JSON (stable keys).
    #[arg(long)]
    json: bool,
}

/// Served and counterfactual totals.
#[derive(Debug, Default, Serialize)]
struct Side {
    cost_per_request_usd: Option<f64>,
    strong_share: Option<f64>,
    /// Mean score of the rated requests (what was served only).
    #[serde(skip_serializing_if = "Option::is_none")]
    quality: Option<f64>,
}

#[derive(Debug, Serialize)]
struct ReplayReport {
    policy: String,
    records: u64,
    replayed: u64,
    /// Records whose query was not logged, or that the candidate could not decide.
    skipped_without_prompt: u64,
    skipped_undecidable: u64,
    agreement: Option<f64>,
    served: Side,
    candidate: Side,
    estimates: Estimates,
}

#[derive(Default)]
struct Totals {
    records: u64,
    replayed: u64,
    no_prompt: u64,
    undecidable: u64,
    agree: u64,
    served_cost: f64,
    served_strong: u64,
    candidate_cost: f64,
    candidate_strong: u64,
    served_quality: Moments,
    logged: Vec<Logged>,
}

pub fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    if !(args.confidence > 0.5 && args.confidence < 1.0) {
        bail!(
            "--confidence {} must be between 0.5 and 1, exclusive",
            args.confidence
        );
    }
    let config = load_config(Some(&args.config))?;
    if config.routing.policies.get(&args.policy).is_none() {
        bail!(
            "--policy {}: {}",
            args.policy,
            config.routing.policies.unknown(&args.policy)
        );
    }
    let now = routewise_gateway::now_unix_ms();
    let query = ScoredQuery {
        since_unix_ms: args
            .since
            .as_deref()
            .map(|t| parse_time("--since", t, now))
            .transpose()?,
        until_unix_ms: args
            .until
            .as_deref()
            .map(|t| parse_time("--until", t, now))
            .transpose()?,
        experiment: args.experiment.clone(),
        ..ScoredQuery::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let totals = runtime.block_on(async {
        let store: Arc<dyn Store> = Arc::new(open_store(&config).await?);
        // A gateway that serves nothing: it holds the learned states the store keeps.
        let gateway = Gateway::new(Runtime::build(config.clone(), &|var| {
            std::env::var(var).ok()
        })?);
        gateway.attach_store(Arc::clone(&store), "replay").await?;
        let mut totals = Totals::default();
        each_record(store.as_ref(), query, |record| {
            totals.add(&gateway, &args.policy, record);
            Ok(())
        })
        .await?;
        anyhow::Ok(totals)
    })?;
    let report = totals.report(&args.policy, args.confidence);
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        print_report(&report)?;
    }
    Ok(ExitCode::SUCCESS)
}

impl Totals {
    fn add(&mut self, gateway: &Gateway, policy: &str, scored: &ScoredRecord) {
        let r = &scored.record;
        self.records += 1;
        let Some(served_model) = r.model.as_deref().filter(|_| r.status == 200) else {
            self.undecidable += 1;
            return;
        };
        let Some(prompt) = r.prompt.as_deref() else {
            self.no_prompt += 1;
            return;
        };
        let Some(decision) = redecide(gateway, policy, r, prompt) else {
            self.undecidable += 1;
            return;
        };
        let runtime = gateway.runtime();
        let catalog = &runtime.config.catalog;
        let strong = |name: &str| {
            catalog
                .model(name)
                .is_some_and(|m| m.tier >= catalog.top_tier())
        };
        let tokens = |n: i64| u64::try_from(n).unwrap_or(0);
        let counterfactual = catalog.model(&decision.model).map_or(0.0, |m| {
            m.cost_usd(tokens(r.prompt_tokens), tokens(r.completion_tokens))
        });
        self.replayed += 1;
        self.agree += u64::from(decision.model == served_model);
        self.served_cost += r.cost_usd;
        self.served_strong += u64::from(strong(served_model));
        self.candidate_cost += counterfactual;
        self.candidate_strong += u64::from(strong(&decision.model));
        if let Some(score) = scored.score {
            self.served_quality.add(score);
            let body: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
            let candidate_supported = supported(&runtime.config, r, &decision.model);
            self.logged.push(Logged {
                served: served_model.to_owned(),
                propensity: r.propensity,
                score,
                candidate: decision.model,
                stratum: body["decision"]["signals"]["task_type"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
                candidate_supported,
            });
        }
    }

    fn report(self, policy: &str, confidence: f64) -> ReplayReport {
        let per = |total: f64| (self.replayed > 0).then(|| total / self.replayed as f64);
        let mut estimates = estimate(&self.logged, confidence);
        if self.no_prompt > 0 {
            estimates.notes.push(format!(
                "{} records keep no query text ([store] log_prompts = false when they were served): replay decides from the query, so they are left out",
                self.no_prompt
            ));
        }
        ReplayReport {
            policy: policy.to_owned(),
            records: self.records,
            replayed: self.replayed,
            skipped_without_prompt: self.no_prompt,
            skipped_undecidable: self.undecidable,
            agreement: per(self.agree as f64),
            served: Side {
                cost_per_request_usd: per(self.served_cost),
                strong_share: per(self.served_strong as f64),
                quality: (self.served_quality.n > 0).then_some(self.served_quality.mean),
            },
            candidate: Side {
                cost_per_request_usd: per(self.candidate_cost),
                strong_share: per(self.candidate_strong as f64),
                quality: None,
            },
            estimates,
        }
    }
}

/// Whether the logging could have served `model` on this record: a bandit explores every
/// model; a deterministic policy serves only its choice, plus the strongest tier when the
/// record's experiment forces a control share. Policies are looked up in today's config.
fn supported(
    config: &routewise_config::Config,
    record: &routewise_store::DecisionRecord,
    model: &str,
) -> bool {
    if record.model.as_deref() == Some(model) {
        return true;
    }
    let stochastic = record
        .policy
        .as_deref()
        .and_then(|p| config.routing.policies.get(p))
        .is_some_and(|entry| entry.kind == "bandit");
    let control = record
        .experiment
        .as_deref()
        .and_then(|e| config.experiments.iter().find(|x| x.name == e))
        .is_some_and(|e| e.control_share > 0.0);
    let catalog = &config.catalog;
    let top = catalog
        .model(model)
        .is_some_and(|m| m.tier >= catalog.top_tier());
    stochastic || (control && top)
}

/// The candidate's decision on a logged request, as the choose stage makes it (no experiment,
/// controllers or memory: those belong to the serving config, not to the candidate).
fn redecide(
    gateway: &Gateway,
    policy: &str,
    record: &routewise_store::DecisionRecord,
    prompt: &str,
) -> Option<Decision> {
    let runtime = gateway.runtime();
    let body: Value = serde_json::from_str(&record.body).unwrap_or(Value::Null);
    let input = ChatInput::from_prompt(prompt);
    let context = RequestContext {
        user_tier: body["user_tier"].as_str().map_or_else(
            || runtime.config.server.default_user_tier.clone(),
            str::to_owned,
        ),
        hour_of_day: u8::try_from((record.created_unix_ms.max(0) / 3_600_000) % 24).unwrap_or(0),
    };
    let analysis = runtime.router.analyse(&input, &context).ok()?;
    let draft = Draft {
        router: &runtime.router,
        input: &input,
        analysis: &analysis,
        policies: &runtime.config.routing.policies,
        states: gateway.learned(),
        memory: None,
        policy: policy.to_owned(),
        now_unix_ms: u64::try_from(record.created_unix_ms).unwrap_or(0),
        seed: routewise_gateway::pipeline::seed_of(&record.request_id),
        audience: Default::default(),
        adjustments: Adjustments::default(),
        control: None,
        decision: None,
    };
    let stages: [Box<dyn DecisionStage>; 1] = [Box::new(Choose)];
    decide::decide(&stages, draft).ok()
}

fn print_report(r: &ReplayReport) -> anyhow::Result<()> {
    let pct = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{:.1}%", v * 100.0));
    let usd = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.6}"));
    outln!(
        "replayed {} of {} records through `{}` ({} without a logged query, {} not decidable)",
        r.replayed,
        r.records,
        r.policy,
        r.skipped_without_prompt,
        r.skipped_undecidable
    )?;
    outln!("{:<10} {:>12} {:>8}", "", "usd/request", "strong")?;
    outln!(
        "{:<10} {:>12} {:>8}",
        "served",
        usd(r.served.cost_per_request_usd),
        pct(r.served.strong_share)
    )?;
    outln!(
        "{:<10} {:>12} {:>8}",
        "candidate",
        usd(r.candidate.cost_per_request_usd),
        pct(r.candidate.strong_share)
    )?;
    outln!("agreement with what was served: {}", pct(r.agreement))?;
    let e = &r.estimates;
    let interval = |i: Option<routewise_learn::experiments::stats::Interval>| {
        i.map_or("not identifiable".to_owned(), |i| {
            format!("{:.3} [{:.3}, {:.3}]", i.estimate, i.low, i.high)
        })
    };
    outln!(
        "quality on {} rated requests: served {}; candidate IPS {}, SNIPS {}, doubly robust {}, direct model {}",
        e.rated,
        r.served
            .quality
            .map_or("-".to_owned(), |q| format!("{q:.3}")),
        interval(e.ips),
        e.snips
            .map_or("not identifiable".to_owned(), |s| format!("{s:.3}")),
        interval(e.doubly_robust),
        interval(e.direct),
    )?;
    for note in &e.notes {
        outln!("note: {note}")?;
    }
    Ok(())
}
