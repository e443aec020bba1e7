//! Turns loaded benchmark records into what the metrics need: every model's quality and cost on
//! every prompt, and the weak/strong pair the two-model metrics compare.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use routewise_core::request::{ChatInput, RequestContext};
use routewise_core::signals::{SignalExtractor, Signals};
use routewise_data::{BUNDLED_CATALOG_NAME, PriceCatalog};
use routewise_learn::bench::BenchmarkRecord;
use routewise_learn::eval::{ModelOutcomes, PairOutcome};

use super::progress;

/// A data set ready for evaluation.
#[derive(Debug)]
pub struct EvalData {
    pub records: Vec<BenchmarkRecord>,
    /// Each prompt as a single-message chat request, and its signals (standard tier).
    pub requests: Vec<ChatInput>,
    pub signals: Vec<Signals>,
    /// Models scored on every record, in name order.
    pub models: Vec<String>,
    pub outcomes: ModelOutcomes,
    pub weak: usize,
    pub strong: usize,
    /// Whether any cost came from list prices x tokens rather than the data.
    pub priced_from_tokens: bool,
    /// The price catalog those costs came from (when some did).
    pub prices_origin: Option<String>,
    /// Other names of each priced model (from the price catalog), so a router trained on one
    /// benchmark's names finds its models in another's.
    aliases: BTreeMap<String, Vec<String>>,
}

impl EvalData {
    /// `prices` is needed only when some record lacks per-prompt costs; `output_tokens` is the
    /// completion length assumed when pricing from tokens. `weak` and `strong` name the pair
    /// (by name or catalog alias); by default the cheapest model and the best.
    pub fn build(
        records: Vec<BenchmarkRecord>,
        prices: &Prices,
        output_tokens: u64,
        weak: Option<&str>,
        strong: Option<&str>,
    ) -> Result<Self> {
        let data = Self::build_unpaired(records, prices, output_tokens)?;
        let canonical = |name: &str| {
            prices
                .catalog
                .canonical_name(name)
                .unwrap_or(name)
                .to_owned()
        };
        let weak = pick(&data.models, weak.map(canonical).as_deref(), || {
            data.outcomes.models_by_cost()[0]
        })?;
        let strong = pick(&data.models, strong.map(canonical).as_deref(), || {
            best_model(&data.outcomes)
        })?;
        data.with_pair(weak, strong)
    }

    /// The data with a provisional pair (its first two models): for callers that choose the
    /// pair themselves with [`EvalData::with_pair`].
    pub fn build_unpaired(
        mut records: Vec<BenchmarkRecord>,
        prices: &Prices,
        output_tokens: u64,
    ) -> Result<Self> {
        let catalog = &prices.catalog;
        canonicalise(&mut records, catalog)?;
        let models = common_models(&records)?;
        let requests: Vec<ChatInput> = records
            .iter()
            .map(|r| ChatInput::from_prompt(r.prompt.as_str()))
            .collect();
        let signals = extract_signals(&requests)?;
        let mut quality = Vec::with_capacity(records.len() * models.len());
        let mut cost = Vec::with_capacity(records.len() * models.len());
        let mut priced_from_tokens = false;
        for (record, signals) in records.iter().zip(&signals) {
            for model in &models {
                quality.push(record.scores[model]);
                let recorded = record.costs.as_ref().and_then(|c| c.get(model)).copied();
                let usd = match recorded {
                    Some(usd) => usd,
                    None => {
                        priced_from_tokens = true;
                        let price = catalog.price(model).with_context(|| {
                            format!(
                                "record {:?} has no cost for model {model:?} and {} has no \
                                 price for it: give a catalog that does with --prices",
                                record.id, prices.origin
                            )
                        })?;
                        price.cost_usd(u64::from(signals.prompt_tokens), output_tokens)
                    }
                };
                cost.push(usd);
            }
        }
        let outcomes = ModelOutcomes::new(models.clone(), quality, cost)?;
        // `common_models` guarantees at least two models.
        let (weak, strong) = (0, 1);
        let aliases = catalog
            .models()
            .iter()
            .map(|m| (m.name.clone(), m.aliases.clone()))
            .collect();
        Ok(Self {
            prices_origin: priced_from_tokens.then(|| prices.origin.clone()),
            aliases,
            records,
            requests,
            signals,
            models,
            outcomes,
            weak,
            strong,
            priced_from_tokens,
        })
    }

    /// The same data on another weak/strong pair (indices into `models`).
    pub fn with_pair(mut self, weak: usize, strong: usize) -> Result<Self> {
        if weak == strong {
            bail!(
                "weak and strong model are both {:?}: pick two different models with --weak and --strong",
                self.models[weak]
            );
        }
        self.weak = weak;
        self.strong = strong;
        Ok(self)
    }

    /// Tells the user (on stderr, so `--json` stays clean) which price catalog costed prompts
    /// from their tokens, when one did.
    pub fn note_prices(&self) {
        if let Some(origin) = &self.prices_origin {
            eprintln!("note: prompts without per-prompt costs are priced from {origin}");
        }
    }

    /// Per prompt, how the weak and the strong model did.
    pub fn pair_outcomes(&self) -> Vec<PairOutcome> {
        (0..self.outcomes.prompts())
            .map(|p| PairOutcome {
                weak_quality: self.outcomes.quality(p, self.weak),
                strong_quality: self.outcomes.quality(p, self.strong),
                weak_cost: self.outcomes.cost(p, self.weak),
                strong_cost: self.outcomes.cost(p, self.strong),
            })
            .collect()
    }

    /// Whether two names denote the same model: equal, or one an alias of the other in the
    /// price catalog.
    pub fn same_model(&self, a: &str, b: &str) -> bool {
        let lists = |x: &str, y: &str| {
            self.aliases
                .get(x)
                .is_some_and(|l| l.iter().any(|n| n == y))
        };
        a == b || lists(a, b) || lists(b, a)
    }

    pub fn categories(&self) -> usize {
        let mut names: Vec<&str> = self.records.iter().map(|r| r.category.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        names.len()
    }
}

/// Signals of every request, on all cores: tokenising long few-shot prompts dominates the
/// time of an evaluation.
fn extract_signals(requests: &[ChatInput]) -> Result<Vec<Signals>> {
    let extractor = SignalExtractor::new()?;
    let context = RequestContext::default();
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = requests.len().div_ceil(workers).max(1);
    let bar = progress::bar("signals and tokens", requests.len());
    let signals = std::thread::scope(|scope| {
        let handles: Vec<_> = requests
            .chunks(chunk)
            .map(|part| {
                let (extractor, context, bar) = (&extractor, &context, &bar);
                scope.spawn(move || {
                    part.iter()
                        .map(|request| {
                            bar.inc(1);
                            extractor.extract(request, context)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join())
            .collect::<Result<Vec<_>, _>>()
    })
    .map_err(|_| anyhow::anyhow!("a signal extraction thread panicked"))?;
    bar.finish_and_clear();
    Ok(signals.into_iter().flatten().collect())
}

/// Models every record scores: metrics compare models on the same prompts.
fn common_models(records: &[BenchmarkRecord]) -> Result<Vec<String>> {
    let Some(first) = records.first() else {
        bail!("the data files hold no records");
    };
    let models: Vec<String> = first
        .scores
        .keys()
        .filter(|m| records.iter().all(|r| r.scores.contains_key(*m)))
        .cloned()
        .collect();
    // Leaving a model out changes every N-model figure, so it must not pass unnoticed.
    let mut partial: Vec<&String> = records
        .iter()
        .flat_map(|r| r.scores.keys())
        .filter(|m| !models.contains(*m))
        .collect();
    partial.sort_unstable();
    partial.dedup();
    if !partial.is_empty() && models.len() >= 2 {
        eprintln!(
            "note: left out {partial:?}: not scored on every record (metrics compare models on \
             the same prompts)"
        );
    }
    if models.len() < 2 {
        bail!(
            "fewer than two models are scored on every record ({models:?}): evaluation compares \
             models on the same prompts; check that the files come from one benchmark"
        );
    }
    Ok(models)
}

/// The cheapest model, the better on average among equals (a benchmark of open models often
/// prices several alike): the weak side of the leave-one-benchmark-out pair.
pub fn cheapest_best_model(outcomes: &ModelOutcomes) -> usize {
    let by_cost = outcomes.models_by_cost();
    let cheapest = outcomes.single_model(by_cost[0]).cost;
    by_cost
        .iter()
        .copied()
        .take_while(|&m| outcomes.single_model(m).cost <= cheapest)
        .max_by(|&a, &b| {
            outcomes
                .single_model(a)
                .quality
                .total_cmp(&outcomes.single_model(b).quality)
                .then(b.cmp(&a))
        })
        .unwrap_or(by_cost[0])
}

/// The default strong model: the best on average, the dearer among equals.
pub fn best_model(outcomes: &ModelOutcomes) -> usize {
    let by_cost = outcomes.models_by_cost();
    by_cost
        .iter()
        .copied()
        .max_by(|&a, &b| {
            outcomes
                .single_model(a)
                .quality
                .total_cmp(&outcomes.single_model(b).quality)
        })
        .unwrap_or(by_cost[by_cost.len() - 1])
}

fn pick(models: &[String], name: Option<&str>, default: impl FnOnce() -> usize) -> Result<usize> {
    match name {
        None => Ok(default()),
        Some(name) => models.iter().position(|m| m == name).with_context(|| {
            format!("model {name:?} is not scored on every record; choose one of {models:?}")
        }),
    }
}

/// A price catalog and where it came from, which every command that prices tokens reports.
#[derive(Debug, Clone)]
pub struct Prices {
    pub catalog: PriceCatalog,
    /// The file it was read from, or [`BUNDLED_CATALOG_NAME`].
    pub origin: String,
}

/// The price catalog to use: the one given, else `models.json` beside the first data file,
/// else the catalog bundled in the binary (a user's own logs rarely come with one).
pub fn load_prices(explicit: Option<&Path>, first_data: &Path) -> Result<Prices> {
    let from_file = |path: &Path| -> Result<Prices> {
        Ok(Prices {
            catalog: PriceCatalog::load(path)?,
            origin: path.display().to_string(),
        })
    };
    if let Some(path) = explicit {
        return from_file(path);
    }
    let beside = first_data.with_file_name("models.json");
    if beside.is_file() {
        return from_file(&beside);
    }
    Ok(Prices {
        catalog: PriceCatalog::bundled()?,
        origin: BUNDLED_CATALOG_NAME.to_owned(),
    })
}

/// Renames every model of `records` to the catalog's first name for it, so that one model
/// named differently by two benchmarks (`mistralai/mixtral-8x7b-chat` and
/// `mistralai/Mixtral-8x7B-Instruct-v0.1`) is one model when their files are read together.
/// Names the catalog does not know stay as they are.
pub fn canonicalise(records: &mut [BenchmarkRecord], catalog: &PriceCatalog) -> Result<()> {
    for record in records {
        record.scores = renamed(&record.id, std::mem::take(&mut record.scores), catalog)?;
        if let Some(costs) = record.costs.take() {
            record.costs = Some(renamed(&record.id, costs, catalog)?);
        }
    }
    Ok(())
}

fn renamed(
    id: &str,
    values: BTreeMap<String, f64>,
    catalog: &PriceCatalog,
) -> Result<BTreeMap<String, f64>> {
    let mut out = BTreeMap::new();
    let mut original: BTreeMap<String, String> = BTreeMap::new();
    for (model, value) in values {
        let name = catalog.canonical_name(&model).unwrap_or(&model).to_owned();
        if let Some(first) = original.insert(name.clone(), model.clone()) {
            bail!(
                "record {id:?} scores {first:?} and {model:?}, which the price catalog lists as \
                 one model ({name:?}): keep one of them, or pass a catalog (--prices) that lists \
                 them apart"
            );
        }
        out.insert(name, value);
    }
    Ok(out)
}
