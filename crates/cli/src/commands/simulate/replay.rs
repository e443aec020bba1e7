//! One simulated run: a policy serves a benchmark stream through the gateway's own code (the
//! analysis, memory, the decision stages with their controllers, accounting and decision
//! records into an in-memory store, feedback handling and the policy's learning), with a
//! simulated upstream in place of the network: the served model "answers" with the
//! benchmark's score and cost for that prompt, and a sampled share of answers is rated with
//! that score, optionally some requests later.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use indicatif::ProgressBar;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use routewise_core::{ChatInput, RequestContext};
use routewise_gateway::account::{Ledger, RequestLog};
use routewise_gateway::decide::Audience;
use routewise_gateway::execute::Attempt;
use routewise_gateway::feedback::{self, Rating};
use routewise_gateway::{Gateway, Runtime, pipeline};
use routewise_openai::Usage;
use routewise_store::{FeedbackSource, SqlStore};

use super::world::{Order, World};
use crate::commands::eval::DEFAULT_OUTPUT_TOKENS;

/// The simulated day starts at 2026-01-01T00:00Z: the stream is spread evenly over one budget
/// period, so pacing sees the day go by.
pub const START_UNIX_MS: u64 = 1_767_225_600_000;
const DAY_MS: u64 = 86_400_000;

/// A policy as the command line names it.
#[derive(Debug, Clone, PartialEq)]
pub enum PolicySpec {
    Rules,
    Complexity,
    Bandit,
    /// A model file from `routewise train`, at a threshold (default 0.5).
    Learned {
        path: PathBuf,
        threshold: f64,
    },
}

impl PolicySpec {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "rules" => Ok(Self::Rules),
            "complexity" => Ok(Self::Complexity),
            "bandit" => Ok(Self::Bandit),
            other => {
                let Some(rest) = other.strip_prefix("learned:").filter(|r| !r.is_empty()) else {
                    return Err(format!(
                        "unknown policy {other:?}: choose rules, complexity, bandit or learned:PATH[@THRESHOLD]"
                    ));
                };
                let (path, threshold) = match rest.rsplit_once('@') {
                    Some((path, t)) => {
                        let threshold: f64 = t.parse().map_err(|_| {
                            format!("{t:?} after @ is not a threshold: give a number from 0 to 1")
                        })?;
                        if !(0.0..=1.0).contains(&threshold) {
                            return Err(format!("threshold {threshold} must be from 0 to 1"));
                        }
                        (path, threshold)
                    }
                    None => (rest, 0.5),
                };
                Ok(Self::Learned {
                    path: PathBuf::from(path),
                    threshold,
                })
            }
        }
    }

    pub fn label(&self) -> String {
        match self {
            Self::Rules => "rules".to_owned(),
            Self::Complexity => "complexity".to_owned(),
            Self::Bandit => "bandit".to_owned(),
            Self::Learned { path, threshold } => format!(
                "learned:{}@{threshold:.3}",
                path.file_name().map_or_else(
                    || path.display().to_string(),
                    |n| n.to_string_lossy().into_owned()
                )
            ),
        }
    }

    fn config_name(&self) -> &'static str {
        match self {
            Self::Rules => "rules",
            Self::Complexity => "complexity",
            Self::Bandit => "bandit",
            Self::Learned { .. } => "learned",
        }
    }

    /// Whether controllers can steer it (it has a threshold).
    pub fn steerable(&self) -> bool {
        !matches!(self, Self::Rules)
    }
}

/// Everything one run depends on.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub policy: PolicySpec,
    pub seed: u64,
    pub order: Order,
    pub feedback_rate: f64,
    /// Requests between an answer and its rating.
    pub feedback_delay: usize,
    pub strong_share: Option<f64>,
    pub quality_floor: Option<f64>,
    pub target_gain: Option<f64>,
    pub budget_usd: Option<f64>,
    pub memory: bool,
    /// Extra `[routing.bandit]` lines.
    pub bandit: Vec<String>,
    /// Config text added at the end (`--experiment`: policies and experiments).
    pub extra: Option<String>,
    /// Where the run's config and store are kept (`--keep`).
    pub keep: Option<PathBuf>,
}

/// One request's outcome.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    pub quality: f64,
    pub cost_usd: f64,
    pub oracle_quality: f64,
    pub strong: bool,
    /// The request could not be served (its decision failed).
    pub failed: bool,
    /// The target controller's bias after it (0 without one).
    pub bias: f64,
}

/// The gateway config of a run.
pub fn config_text(world: &World, spec: &RunSpec) -> String {
    let mut text = world.catalog_toml().to_owned();
    text.push_str(&format!(
        "\n[routing]\npolicy = \"{}\"\nexpected_output_tokens = {}\n",
        spec.policy.config_name(),
        world.expected_output_tokens
    ));
    if let PolicySpec::Learned { path, threshold } = &spec.policy {
        text.push_str(&format!(
            "\n[routing.learned]\nmodel = {}\nthreshold = {threshold:?}\n",
            serde_json::to_string(&path.display().to_string()).unwrap_or_default()
        ));
    }
    if !spec.bandit.is_empty() {
        text.push_str("\n[routing.bandit]\n");
        for line in &spec.bandit {
            text.push_str(line);
            text.push('\n');
        }
    }
    let target = match (spec.strong_share, spec.quality_floor) {
        (Some(share), _) => Some(format!("strong_share = {share:?}")),
        (None, Some(floor)) => Some(format!("quality_floor = {floor:?}")),
        (None, None) => None,
    };
    if let (Some(target), true) = (target, spec.policy.steerable()) {
        text.push_str(&format!("\n[routing.target]\n{target}\n"));
        if let Some(gain) = spec.target_gain {
            text.push_str(&format!("gain = {gain:?}\n"));
        }
    }
    if let (Some(usd), true) = (spec.budget_usd, spec.policy.steerable()) {
        text.push_str(&format!("\n[budget]\nusd = {usd:?}\nperiod = \"day\"\n"));
    }
    text.push_str(&format!(
        "\n[store]\nurl = {}\nlog_prompts = true\n\n[memory]\nenabled = {}\n",
        serde_json::to_string(&store_url(spec)).unwrap_or_default(),
        spec.memory
    ));
    if let Some(extra) = &spec.extra {
        text.push('\n');
        text.push_str(extra);
        text.push('\n');
    }
    text
}

/// The run's store: in memory, or a file in the `--keep` directory.
fn store_url(spec: &RunSpec) -> String {
    match &spec.keep {
        Some(dir) => format!("sqlite://{}", dir.join("records.db").display()),
        None => "sqlite::memory:".to_owned(),
    }
}

/// Runs `spec` over `world`'s stream; `bar` advances once per request.
pub fn run(world: &World, spec: &RunSpec, bar: &ProgressBar) -> Result<Vec<Step>> {
    let text = config_text(world, spec);
    let config = routewise_config::from_str_with_env(&text, &|_| None)
        .with_context(|| format!("cannot configure policy {}", spec.policy.label()))?;
    if let Some(dir) = &spec.keep {
        let path = dir.join("routewise.toml");
        std::fs::write(&path, &text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let url = store_url(spec);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let gateway =
            Gateway::with_request_log(Runtime::build(config, &|_| None)?, RequestLog::Tracing);
        gateway.set_time(START_UNIX_MS);
        let store = SqlStore::open(&url).await?;
        gateway.attach_store(Arc::new(store), &url).await?;
        replay(world, spec, &gateway, bar).await
    })
}

async fn replay(
    world: &World,
    spec: &RunSpec,
    gateway: &Gateway,
    bar: &ProgressBar,
) -> Result<Vec<Step>> {
    let stream = world.stream(spec.order, spec.seed);
    let step_ms = DAY_MS / stream.len().max(1) as u64;
    let mut sampler = StdRng::seed_from_u64(spec.seed ^ 0x5eed_feed_bac0);
    let mut due: VecDeque<(usize, String, f64)> = VecDeque::new();
    let mut steps = Vec::with_capacity(stream.len());
    for (i, &prompt) in stream.iter().enumerate() {
        let now = START_UNIX_MS + i as u64 * step_ms;
        gateway.set_time(now);
        while due.front().is_some_and(|(at, _, _)| *at <= i) {
            if let Some((_, id, score)) = due.pop_front() {
                rate(gateway, &id, score).await?;
            }
        }
        let id = format!("sim-{}-{i}", spec.seed);
        let served = serve(world, gateway, &id, prompt, now);
        let (oracle_quality, _) = world.oracle(prompt);
        let bias = gateway.controllers().target_state().map_or(0.0, |s| s.bias);
        let step = match served {
            Some(model) => {
                let quality = world.data.outcomes.quality(prompt, model);
                if sampler.random::<f64>() < spec.feedback_rate {
                    due.push_back((i + spec.feedback_delay, id, quality.clamp(0.0, 1.0)));
                }
                Step {
                    quality,
                    cost_usd: world.data.outcomes.cost(prompt, model),
                    oracle_quality,
                    strong: model == world.strong,
                    failed: false,
                    bias,
                }
            }
            None => Step {
                quality: 0.0,
                cost_usd: 0.0,
                oracle_quality,
                strong: false,
                failed: true,
                bias,
            },
        };
        steps.push(step);
        bar.inc(1);
        if i % 256 == 255 {
            // Let the record writer keep up.
            tokio::task::yield_now().await;
        }
    }
    gateway.flush_records().await;
    Ok(steps)
}

/// Decides and "executes" one request as the pipeline does; the served benchmark model, or
/// `None` when the gateway would have refused it.
fn serve(world: &World, gateway: &Gateway, id: &str, prompt: usize, now: u64) -> Option<usize> {
    let runtime = gateway.runtime();
    let input: &ChatInput = &world.data.requests[prompt];
    let context = RequestContext {
        user_tier: runtime.config.server.default_user_tier.clone(),
        hour_of_day: u8::try_from((now / 3_600_000) % 24).unwrap_or(0),
    };
    let mut analysis = runtime.router.analyse(input, &context).ok()?;
    let mut ledger = Ledger::new(
        id.to_owned(),
        tokio::time::Instant::now(),
        RequestLog::Tracing,
    );
    ledger.set_sink(gateway.record_sink(&runtime));
    ledger.set_route("auto");
    ledger.set_baseline(runtime.config.catalog.baseline_model());
    pipeline::remember(gateway, &runtime, input, &mut analysis, &mut ledger);
    let policy = runtime.config.routing.policy.clone();
    let decision = pipeline::decide_request(
        gateway,
        &runtime,
        input,
        &analysis,
        policy,
        Audience {
            route: Some("auto"),
            ..Audience::default()
        },
        id,
    )
    .ok()?;
    let model = runtime.config.catalog.model(&decision.model)?.clone();
    let served = world.model_index(&model.name);
    ledger.set_decision(decision);
    let attempt = Attempt {
        model: model.name.clone(),
        attempt: 1,
        outcome: "ok",
        status: Some(200),
        duration_ms: 0.0,
        error: None,
    };
    ledger.set_execution(&model, vec![attempt], Duration::ZERO);
    let prompt_tokens = analysis.signals.prompt_tokens;
    let completion = served.map_or(DEFAULT_OUTPUT_TOKENS, |m| {
        world.completion_tokens(prompt, m, prompt_tokens)
    });
    ledger.set_usage(Some(Usage::new(u64::from(prompt_tokens), completion)));
    ledger.finish("ok", 200, None);
    served
}

async fn rate(gateway: &Gateway, id: &str, score: f64) -> Result<()> {
    let rating = Rating {
        request_id: id,
        score,
        source: FeedbackSource::Eval,
        comment: None,
        key_name: None,
        authenticated: false,
    };
    feedback::submit(gateway, rating)
        .await
        .map(|_| ())
        .with_context(|| format!("feedback on {id} was refused"))
}
