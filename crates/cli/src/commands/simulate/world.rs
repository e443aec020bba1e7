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
    /// The strongest tier's model (the dearest).
    pub strong: usize,
    /// The cheapest model.
    pub weak: usize,
    catalog_toml: String,
}

impl World {
    pub fn new(data: EvalData, prices: Option<&PriceCatalog>) -> Result<Self> {
        let by_cost = data.outcomes.models_by_cost();
        if by_cost.len() < 2 {
            bail!("simulation needs at least two models scored on every prompt");
        }
        let strong = by_cost[by_cost.len() - 1];
        let weak = by_cost[0];
        let catalog_toml = catalog_toml(&data, &by_cost, prices);
        Ok(Self {
            data,
            strong,
            weak,
            catalog_toml,
        })
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

/// Tiers `t0`.. cheapest first, one model each; prices from the price catalog, else from the
/// benchmark's own costs per token, so the gateway's estimates match what the world charges.
fn catalog_toml(data: &EvalData, by_cost: &[usize], prices: Option<&PriceCatalog>) -> String {
    let tiers: Vec<String> = (0..by_cost.len())
        .map(|t| quoted(&format!("t{t}")))
        .collect();
    let mut toml = format!(
        "tiers = [{}]\n\n[[providers]]\nname = \"simulated\"\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\n",
        tiers.join(", ")
    );
    let tokens: f64 = data
        .signals
        .iter()
        .map(|s| f64::from(s.prompt_tokens) + DEFAULT_OUTPUT_TOKENS as f64)
        .sum();
    for (tier, &model) in by_cost.iter().enumerate() {
        let name = &data.models[model];
        let (input, output) = match prices.and_then(|p| p.price(name)) {
            Some(price) => (price.input_usd_per_1m, price.output_usd_per_1m),
            None => {
                let spent: f64 = (0..data.outcomes.prompts())
                    .map(|p| data.outcomes.cost(p, model))
                    .sum();
                let per_million = spent / tokens.max(1.0) * 1e6;
                (per_million, per_million)
            }
        };
        let _ = write!(
            toml,
            "\n[[models]]\nname = {}\nprovider = \"simulated\"\ntier = \"t{tier}\"\ninput_usd_per_mtok = {input:?}\noutput_usd_per_mtok = {output:?}\ncontext_window = 10000000\n",
            quoted(name)
        );
    }
    toml
}
