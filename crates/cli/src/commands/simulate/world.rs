//! A benchmark as a world to replay: its prompts in a stream order, what every model scores and
//! costs on each, and the gateway config that serves it (a catalog of the benchmark's models,
//! priced from the price catalog, one tier per model from cheapest to dearest, and an upstream
//! that is never called).

use std::fmt::Write as _;

use anyhow::{Result, bail};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use routewise_data::PriceCatalog;

use crate::commands::eval::DEFAULT_OUTPUT_TOKENS;
use crate::commands::eval::dataset::EvalData;

/// How prompts arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Order {
    /// A random order: the traffic's mix stays the same throughout.
    Shuffled,
    /// One category after another (in a random order): the traffic drifts.
    ByCategory,
}

impl Order {
    pub fn as_str(self) -> &'static str {
        match self {
            Order::Shuffled => "shuffled",
            Order::ByCategory => "by-category",
        }
    }
}

/// The benchmark, ready to replay.
#[derive(Debug)]
pub struct World {
    pub data: EvalData,
    /// The strongest tier's model: the dearest, as a catalog orders its tiers (on a benchmark
    /// whose dearest model is not its best, PGR against it says little).
    pub strong: usize,
    /// The cheapest model.
    pub weak: usize,
    /// Each model's catalog price, USD per million input and output tokens.
    prices: Vec<(f64, f64)>,
    /// The completion length a request is expected to have (the median the costs imply).
    pub expected_output_tokens: u32,
    catalog_toml: String,
}

impl World {
    pub fn new(data: EvalData, prices: Option<&PriceCatalog>) -> Result<Self> {
        let by_cost = data.outcomes.models_by_cost();
        if by_cost.len() < 2 {
            bail!("simulation needs at least two models scored on every prompt");
        }
        // Tiers follow price, cheapest first, as a catalog's do: pacing a budget moves traffic
        // to lower tiers because they cost less. (Ordering by quality was tried: on LLMRouter,
        // whose dearest model is its worst, lower tiers then cost more and budgets overran.)
        let strong = by_cost[by_cost.len() - 1];
        let weak = by_cost[0];
        let model_prices: Vec<(f64, f64)> = (0..data.models.len())
            .map(|m| model_price(&data, m, prices))
            .collect();
        let catalog_toml = catalog_toml(&data, &by_cost, &model_prices);
        let mut world = Self {
            data,
            strong,
            weak,
            prices: model_prices,
            expected_output_tokens: 0,
            catalog_toml,
        };
        let mut implied: Vec<u64> = (0..world.prompts())
            .flat_map(|p| (0..world.data.models.len()).map(move |m| (p, m)))
            .map(|(p, m)| world.completion_tokens(p, m, world.data.signals[p].prompt_tokens))
            .collect();
        implied.sort_unstable();
        world.expected_output_tokens = implied
            .get(implied.len() / 2)
            .map_or(1, |&n| u32::try_from(n).unwrap_or(u32::MAX).max(1));
        Ok(world)
    }

    /// The completion tokens that make `model`'s answer to `prompt` cost what the benchmark
    /// says at catalog prices: what the simulated upstream reports as usage, so the gateway's
    /// accounting (and budget pacing) sees the benchmark's costs.
    pub fn completion_tokens(&self, prompt: usize, model: usize, prompt_tokens: u32) -> u64 {
        let (input, output) = self.prices[model];
        if output <= 0.0 {
            return DEFAULT_OUTPUT_TOKENS;
        }
        let cost = self.data.outcomes.cost(prompt, model) * 1e6;
        let left = cost - f64::from(prompt_tokens) * input;
        (left / output).round().max(0.0) as u64
    }

    pub fn prompts(&self) -> usize {
        self.data.outcomes.prompts()
    }

    /// The stream: prompt indices in arrival order for `seed`.
    pub fn stream(&self, order: Order, seed: u64) -> Vec<usize> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut indices: Vec<usize> = (0..self.prompts()).collect();
        indices.shuffle(&mut rng);
        if order == Order::ByCategory {
            let mut categories: Vec<&str> = self
                .data
                .records
                .iter()
                .map(|r| r.category.as_str())
                .collect();
            categories.sort_unstable();
            categories.dedup();
            categories.shuffle(&mut rng);
            let rank = |p: usize| {
                let category = self.data.records[p].category.as_str();
                categories.iter().position(|c| *c == category).unwrap_or(0)
            };
            // Stable: the shuffled order within each category stays.
            indices.sort_by_key(|&p| rank(p));
        }
        indices
    }

    /// The best quality any model reaches on a prompt (the oracle's), and the cheapest model
    /// that reaches it.
    pub fn oracle(&self, prompt: usize) -> (f64, usize) {
        let outcomes = &self.data.outcomes;
        let mut best = (f64::NEG_INFINITY, 0);
        for model in outcomes.models_by_cost() {
            let q = outcomes.quality(prompt, model);
            if q > best.0 {
                best = (q, model);
            }
        }
        best
    }

    /// The catalog (tiers, provider, models) of the gateway config that serves this world.
    pub fn catalog_toml(&self) -> &str {
        &self.catalog_toml
    }

    /// The benchmark model index of a catalog model name.
    pub fn model_index(&self, name: &str) -> Option<usize> {
        self.data.models.iter().position(|m| m == name)
    }
}

fn quoted(text: &str) -> String {
    // A JSON string is a valid TOML basic string: the same escapes.
    serde_json::to_string(text).unwrap_or_else(|_| "\"?\"".to_owned())
}

/// A model's price per million tokens: the price catalog's, else the benchmark's own cost per
/// token (input and output alike).
fn model_price(data: &EvalData, model: usize, prices: Option<&PriceCatalog>) -> (f64, f64) {
    if let Some(price) = prices.and_then(|p| p.price(&data.models[model])) {
        return (price.input_usd_per_1m, price.output_usd_per_1m);
    }
    let tokens: f64 = data
        .signals
        .iter()
        .map(|s| f64::from(s.prompt_tokens) + DEFAULT_OUTPUT_TOKENS as f64)
        .sum();
    let spent: f64 = (0..data.outcomes.prompts())
        .map(|p| data.outcomes.cost(p, model))
        .sum();
    let per_million = spent / tokens.max(1.0) * 1e6;
    (per_million, per_million)
}

/// Tiers `t0`.. cheapest first, one model each (`order`).
fn catalog_toml(data: &EvalData, order: &[usize], prices: &[(f64, f64)]) -> String {
    let tiers: Vec<String> = (0..order.len()).map(|t| quoted(&format!("t{t}"))).collect();
    let mut toml = format!(
        "tiers = [{}]\n\n[[providers]]\nname = \"simulated\"\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\n",
        tiers.join(", ")
    );
    for (tier, &model) in order.iter().enumerate() {
        let name = &data.models[model];
        let (input, output) = prices[model];
        let _ = write!(
            toml,
            "\n[[models]]\nname = {}\nprovider = \"simulated\"\ntier = \"t{tier}\"\ninput_usd_per_mtok = {input:?}\noutput_usd_per_mtok = {output:?}\ncontext_window = 10000000\n",
            quoted(name)
        );
    }
    toml
}
