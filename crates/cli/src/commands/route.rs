//! `routewise route`: the routing decision for one prompt or chat request, explained.

use super::load_config;
use super::train::read_model;
use anyhow::{Context, bail};
use clap::Args;
use routewise_config::{Config, PolicyEntry};
use routewise_core::learn::{LearnedModel, LearnedPolicy};
use routewise_core::{ChatInput, Decision, RequestContext, Router};
use routewise_gateway::decide::{self, Adjustments, Draft};
use routewise_gateway::learning::LearnedStates;
use routewise_gateway::memory::Memory;
use routewise_openai::ChatCompletionRequest;
use routewise_store::{SqlStore, Store};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// The learned policy's threshold when neither the command line nor the config gives one.
const DEFAULT_LEARNED_THRESHOLD: f64 = 0.8;

#[derive(Debug, Args)]
pub struct RouteArgs {
    /// The prompt, sent as one user message. `-` reads it from stdin.
    prompt: Option<String>,
    /// A full OpenAI chat completion request (JSON) to route instead; `-` reads stdin.
    #[arg(long, value_name = "FILE", conflicts_with = "prompt")]
    request: Option<PathBuf>,
    /// Config file; without it, the built-in example catalog and the `default` policy (the
    /// premium-tier rule, then the complexity score) are used.
    #[arg(long, short = 'c', env = "ROUTEWISE_CONFIG")]
    config: Option<PathBuf>,
    /// The caller's tier (for example free, standard, premium).
    #[arg(long, default_value = "standard")]
    user_tier: String,
    /// Override the configured policy: any policy the config names (rules, complexity, default,
    /// bandit, learned for `[routing.learned]`, or a `[policies.NAME]`), or learned:PATH (a model file
    /// from `routewise train`).
    #[arg(long)]
    policy: Option<String>,
    /// Threshold of a learned policy: the cheapest model whose acceptability reaches it wins.
    /// Default: `routing.learned.threshold` of the config (written by `routewise calibrate
    /// --write-config`), else 0.8.
    #[arg(long, allow_negative_numbers = true)]
    threshold: Option<f64>,
    /// Hour of day (UTC, 0-23) to decide at; defaults to now. Makes decisions reproducible.
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..24))]
    hour: Option<u8>,
    /// Print one JSON object instead of the readable explanation.
    #[arg(long)]
    json: bool,
}

pub fn run(args: RouteArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(args.config.as_deref())?;
    let router = match args.policy.as_deref() {
        None if args.threshold.is_none() => config.router()?,
        None if config.routing.policy == "learned" => {
            learned_router(&config, config_model(&config)?, args.threshold)?
        }
        None => bail!(
            "--threshold applies to a learned policy, and the configured policy is `{}`: add --policy learned or --policy learned:PATH",
            config.routing.policy
        ),
        Some(name) if name.starts_with("learned:") => {
            let path = Path::new(&name["learned:".len()..]);
            learned_router(&config, Arc::new(read_model(path)?), args.threshold)?
        }
        Some("learned") if args.threshold.is_some() => {
            learned_router(&config, config_model(&config)?, args.threshold)?
        }
        Some(name) => {
            let Some(entry) = config.routing.policies.get(name) else {
                bail!("{}, or learned:PATH", config.routing.policies.unknown(name));
            };
            if args.threshold.is_some() {
                bail!(
                    "--threshold applies to `learned` and learned:PATH; policy `{name}` is of kind `{}`",
                    entry.kind
                );
            }
            config.router_with(name)?
        }
    };
    let input = read_input(&args)?;
    let context = RequestContext {
        user_tier: args.user_tier.trim().to_lowercase(),
        hour_of_day: args.hour.unwrap_or_else(current_utc_hour),
    };
    let decision = match remembered(&config)? {
        Some((memory, _store)) => decide_with_memory(&config, &router, &memory, &input, &context)?,
        None => router.decide(&input, &context)?,
    };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&decision)?)?;
    } else {
        print_explanation(&decision, router.catalog())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The memory the gateway keeps for this config (upgrades in force, ratings), read from its
/// store when there is one to read; `None` otherwise. An SQLite store that does not exist yet
/// is not created.
fn remembered(config: &Config) -> anyhow::Result<Option<(Memory, Arc<dyn Store>)>> {
    let Some(url) = &config.store.url else {
        return Ok(None);
    };
    if let Some(path) = url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap_or(path);
        if !Path::new(path).exists() {
            return Ok(None);
        }
    }
    if url == "sqlite::memory:" {
        return Ok(None);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let store: Arc<dyn Store> = match SqlStore::open(url).await {
            Ok(store) => Arc::new(store),
            Err(err) => {
                eprintln!("note: deciding without memory: {err}");
                return Ok(None);
            }
        };
        let memory = Memory::new(&config.memory);
        let now = u64::try_from(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis()),
        )
        .unwrap_or(u64::MAX);
        routewise_gateway::memory::restore(&memory, store.as_ref(), &config.memory, now).await?;
        Ok(Some((memory, store)))
    })
}

/// The decision the gateway would make: analysis, memory's fingerprint and track record, then
/// the decision stages (memory's upgrade among them) with the router's policy.
fn decide_with_memory(
    config: &Config,
    router: &Router,
    memory: &Memory,
    input: &ChatInput,
    context: &RequestContext,
) -> anyhow::Result<Decision> {
    let mut analysis = router.analyse(input, context)?;
    memory.annotate(&mut analysis, input, &config.memory);
    let (name, policy) = router.named_policy();
    let mut policies = config.routing.policies.clone();
    policies.insert(PolicyEntry {
        name: name.to_owned(),
        kind: "route",
        policy,
        files: Vec::new(),
    });
    let states = LearnedStates::default();
    states.adopt(&policies);
    let now = u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis()),
    )
    .unwrap_or(u64::MAX);
    let draft = Draft {
        router,
        input,
        analysis: &analysis,
        policies: &policies,
        states: &states,
        memory: Some(memory),
        policy: name.to_owned(),
        now_unix_ms: now,
        seed: 0,
        audience: Default::default(),
        adjustments: Adjustments::default(),
        control: None,
        decision: None,
    };
    Ok(decide::decide(&decide::stages(config), draft)?)
}

/// The model of the config's `[routing.learned]`, for `--threshold` without `learned:PATH`.
fn config_model(config: &Config) -> anyhow::Result<Arc<LearnedModel>> {
    match &config.routing.learned {
        Some(learned) => Ok(learned.policy.shared_model()),
        None => bail!(
            "the config has no [routing.learned] model: give --policy learned:PATH, or add one with `routewise calibrate --write-config`"
        ),
    }
}

/// A router whose policy is `model` at the given threshold, else the configured one, else
/// the default.
fn learned_router(
    config: &Config,
    model: Arc<LearnedModel>,
    threshold: Option<f64>,
) -> anyhow::Result<Router> {
    let threshold = threshold
        .or(config.routing.learned.as_ref().map(|l| l.threshold))
        .unwrap_or(DEFAULT_LEARNED_THRESHOLD);
    // NaN or a negative threshold would silently send everything to one end.
    if !(threshold.is_finite() && threshold >= 0.0) {
        bail!(
            "--threshold must be a number >= 0 (find one with `routewise calibrate`), got {threshold}"
        );
    }
    // A model none of whose candidates the catalog knows would always fall back to the strongest
    // tier while looking like a learned decision; `[routing.learned]` refuses it the same way.
    let names = model.model_names();
    if !names
        .iter()
        .any(|name| config.catalog.model(name).is_some())
    {
        bail!(
            "the model file predicts for {}, none of which is in the catalog ({}): give a --config \
             whose models carry those names, or train on data labelled with the catalog's model names",
            names.join(", "),
            config
                .catalog
                .models()
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let policy = LearnedPolicy::new(model, threshold);
    Ok(Router::new(
        config.catalog.clone(),
        Arc::new(policy),
        config.routing.options,
    )?)
}

fn read_input(args: &RouteArgs) -> anyhow::Result<ChatInput> {
    if let Some(path) = &args.request {
        let text = read_text(path)?;
        let request: ChatCompletionRequest = serde_json::from_str(&text).with_context(|| {
            format!("{} is not a valid chat completion request", path.display())
        })?;
        return Ok(request.to_chat_input()?);
    }
    match args.prompt.as_deref() {
        Some("-") => Ok(ChatInput::from_prompt(read_text(Path::new("-"))?)),
        Some(prompt) => Ok(ChatInput::from_prompt(prompt)),
        None => bail!("give a PROMPT, or --request FILE with a chat request (`-` reads stdin)"),
    }
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read stdin as UTF-8 text")?;
        Ok(text)
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
    }
}

fn current_utc_hour() -> u8 {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    u8::try_from((seconds / 3600) % 24).unwrap_or(0)
}

fn print_explanation(
    decision: &Decision,
    catalog: &routewise_core::Catalog,
) -> std::io::Result<()> {
    let model = catalog.model(&decision.model);
    let tier = model
        .and_then(|m| catalog.tiers().get(m.tier))
        .map_or("?", String::as_str);
    let provider = model.map_or("?", |m| m.provider.as_str());
    let s = &decision.signals;
    let list = |items: Vec<String>| {
        if items.is_empty() {
            "none".to_owned()
        } else {
            items.join(", ")
        }
    };
    outln!(
        "model     {} (tier {tier}, provider {provider})",
        decision.model
    )?;
    outln!("policy    {} ({})", decision.policy, decision.reason)?;
    outln!("why       {}", decision.detail)?;
    for record in &decision.signals.track_record {
        outln!(
            "memory    `{}` scored {:.2} on {} similar rated request(s)",
            record.model,
            record.mean_score,
            record.count
        )?;
    }
    if let (Some(score), Some(threshold)) = (decision.score, decision.threshold) {
        outln!("score     {score:.3} against threshold {threshold:.3}")?;
    }
    outln!(
        "signals   {} prompt tokens ({} from the user), {} turn(s), task {}, reasoning cues: {}, domains: {}, code: {}, images: {}, caller tier {}",
        s.prompt_tokens,
        s.user_tokens,
        s.turns,
        s.task_type,
        list(
            s.reasoning_keywords
                .iter()
                .map(|k| (*k).to_owned())
                .collect()
        ),
        list(s.domains.iter().map(|d| d.to_string()).collect()),
        if s.has_code { "yes" } else { "no" },
        s.image_parts,
        s.user_tier,
    )?;
    let saving = if decision.baseline_cost_usd > 0.0 {
        100.0 * decision.estimated_saving_usd() / decision.baseline_cost_usd
    } else {
        0.0
    };
    outln!(
        "cost      ${:.6} estimated ({} output tokens assumed) vs ${:.6} on {} (always-large): {saving:.1}% saved",
        decision.estimated_cost_usd,
        decision.estimated_output_tokens,
        decision.baseline_cost_usd,
        decision.baseline_model,
    )
}
