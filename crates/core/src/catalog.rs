//! The model catalog: which models exist, what they cost, what they can do, and how they rank.
//!
//! Invariants (checked by [`Catalog::new`]): at least one model and one tier, unique model names,
//! every model's tier is declared, prices are finite and non-negative, context windows are
//! positive. Tiers are ordered from cheapest (index 0) to most capable.

use serde::Serialize;
use std::fmt;
use thiserror::Error;

/// Something a model can do that a request may need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// Accepts image content parts.
    Vision,
    /// Supports tool / function calling.
    Tools,
    /// Is good at writing code.
    Code,
    /// Supports structured outputs (`response_format` of type `json_schema`).
    JsonSchema,
}

impl Capability {
    pub const ALL: [Capability; 4] = [
        Capability::Vision,
        Capability::Tools,
        Capability::Code,
        Capability::JsonSchema,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Vision => "vision",
            Capability::Tools => "tools",
            Capability::Code => "code",
            Capability::JsonSchema => "json_schema",
        }
    }

    /// Parses a capability name as written in config (`vision`, `tools`, `code`).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One routable model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelSpec {
    /// The name clients and rules use; unique in the catalog.
    pub name: String,
    /// Name of the provider that serves it.
    pub provider: String,
    /// The model name sent upstream.
    pub upstream_model: String,
    /// Index into [`Catalog::tiers`]; higher is more capable.
    pub tier: usize,
    pub input_usd_per_mtok: f64,
    pub output_usd_per_mtok: f64,
    /// Maximum prompt + completion tokens.
    pub context_window: u32,
    pub capabilities: Vec<Capability>,
}

impl ModelSpec {
    pub fn has(&self, capability: Capability) -> bool {
        self.capabilities.contains(&capability)
    }

    /// USD for a call with these token counts, at list price.
    pub fn cost_usd(&self, input_tokens: u64, output_tokens: u64) -> f64 {
        (input_tokens as f64 * self.input_usd_per_mtok
            + output_tokens as f64 * self.output_usd_per_mtok)
            / 1_000_000.0
    }
}

/// Why a catalog could not be built.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum CatalogError {
    #[error("the catalog has no models: add at least one [[models]] entry")]
    Empty,
    #[error("no tiers are declared: list them cheapest first, e.g. tiers = [\"small\", \"large\"]")]
    NoTiers,
    #[error("model `{0}` is declared more than once; model names must be unique")]
    DuplicateModel(String),
    #[error("model `{model}` names tier index {tier}, but only {tiers} tiers exist")]
    UnknownTier {
        model: String,
        tier: usize,
        tiers: usize,
    },
    #[error(
        "model `{model}` has an invalid price {value} for {field}: prices are USD per 1M tokens, >= 0"
    )]
    InvalidPrice {
        model: String,
        field: &'static str,
        value: f64,
    },
    #[error("model `{0}` has a context window of 0 tokens")]
    ZeroContextWindow(String),
    #[error("the catalog has {0} models; routewise routes over at most 4,294,967,295")]
    TooManyModels(usize),
}

/// A model's place in its [`Catalog`]. Only a catalog hands these out (by name, or in its
/// preference order), so a policy or a stage cannot invent an index; look the model up with
/// [`Catalog::get`], which is `None` for an id from another, larger catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelId(u32);

impl ModelId {
    /// The position in [`Catalog::models`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A subset of a catalog's models, e.g. those that meet a request's hard constraints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSet {
    members: Vec<bool>,
}

impl ModelSet {
    /// Every model of `catalog`.
    pub fn all(catalog: &Catalog) -> Self {
        Self {
            members: vec![true; catalog.models.len()],
        }
    }

    /// The models of `catalog` for which `keep` holds.
    pub fn of(catalog: &Catalog, keep: impl Fn(&ModelSpec) -> bool) -> Self {
        Self {
            members: catalog.models.iter().map(keep).collect(),
        }
    }

    pub fn contains(&self, id: ModelId) -> bool {
        self.members.get(id.index()).copied().unwrap_or(false)
    }

    pub fn is_empty(&self) -> bool {
        !self.members.iter().any(|m| *m)
    }

    pub fn len(&self) -> usize {
        self.members.iter().filter(|m| **m).count()
    }

    /// The members, in catalog order.
    pub fn iter(&self) -> impl Iterator<Item = ModelId> + '_ {
        self.members
            .iter()
            .enumerate()
            .filter(|(_, m)| **m)
            .filter_map(|(i, _)| u32::try_from(i).ok().map(ModelId))
    }
}

/// An immutable, validated set of models and tiers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Catalog {
    tiers: Vec<String>,
    models: Vec<ModelSpec>,
    /// Model ids cheapest tier first, then by blended price, then by name.
    #[serde(skip)]
    preference: Vec<ModelId>,
}

impl Catalog {
    /// Validates and builds a catalog. Models keep their declared order except that
    /// [`Catalog::models_by_preference`] sorts by tier then price.
    pub fn new(tiers: Vec<String>, models: Vec<ModelSpec>) -> Result<Self, CatalogError> {
        if tiers.is_empty() {
            return Err(CatalogError::NoTiers);
        }
        if models.is_empty() {
            return Err(CatalogError::Empty);
        }
        for (i, model) in models.iter().enumerate() {
            if models[..i].iter().any(|m| m.name == model.name) {
                return Err(CatalogError::DuplicateModel(model.name.clone()));
            }
            if model.tier >= tiers.len() {
                return Err(CatalogError::UnknownTier {
                    model: model.name.clone(),
                    tier: model.tier,
                    tiers: tiers.len(),
                });
            }
            for (field, value) in [
                ("input_usd_per_mtok", model.input_usd_per_mtok),
                ("output_usd_per_mtok", model.output_usd_per_mtok),
            ] {
                if !value.is_finite() || value < 0.0 {
                    return Err(CatalogError::InvalidPrice {
                        model: model.name.clone(),
                        field,
                        value,
                    });
                }
            }
            if model.context_window == 0 {
                return Err(CatalogError::ZeroContextWindow(model.name.clone()));
            }
        }
        if u32::try_from(models.len()).is_err() {
            return Err(CatalogError::TooManyModels(models.len()));
        }
        let preference = preference_order(&models);
        Ok(Self {
            tiers,
            models,
            preference,
        })
    }

    pub fn tiers(&self) -> &[String] {
        &self.tiers
    }

    pub fn models(&self) -> &[ModelSpec] {
        &self.models
    }

    pub fn model(&self, name: &str) -> Option<&ModelSpec> {
        self.models.iter().find(|m| m.name == name)
    }

    /// The id of the model called `name`.
    pub fn id_of(&self, name: &str) -> Option<ModelId> {
        self.models
            .iter()
            .position(|m| m.name == name)
            .and_then(|i| u32::try_from(i).ok())
            .map(ModelId)
    }

    /// The model with this id; `None` only for an id from another catalog.
    pub fn get(&self, id: ModelId) -> Option<&ModelSpec> {
        self.models.get(id.index())
    }

    /// Every model's id, in declaration order.
    pub fn ids(&self) -> impl Iterator<Item = ModelId> + '_ {
        (0..self.models.len()).filter_map(|i| u32::try_from(i).ok().map(ModelId))
    }

    pub fn tier_index(&self, name: &str) -> Option<usize> {
        self.tiers.iter().position(|t| t == name)
    }

    /// The tier positional aliases usable as rule targets resolve here: `cheapest` is tier 0,
    /// `strongest` the last, `middle` the one in the middle (rounding up), so that the default
    /// rules work for any number of tiers.
    pub fn middle_tier(&self) -> usize {
        self.tiers.len() / 2
    }

    pub fn top_tier(&self) -> usize {
        self.tiers.len() - 1
    }

    /// A score of how much a model costs, used to order models within a tier: the price of a
    /// call with three input tokens for each output token, a typical chat mix.
    pub fn blended_price(model: &ModelSpec) -> f64 {
        0.75 * model.input_usd_per_mtok + 0.25 * model.output_usd_per_mtok
    }

    /// Model ids ordered cheapest tier first, then by blended price, then by name, so that
    /// "the first eligible model" is always the cheapest sufficient one and ties are stable.
    pub fn models_by_preference(&self) -> &[ModelId] {
        &self.preference
    }

    /// The always-large baseline: the most capable tier's most expensive model (the model a
    /// team would use if it did not route), used for counterfactual cost.
    pub fn baseline_model(&self) -> &ModelSpec {
        // `models` is never empty (checked in `new`), so the fold's seed is always valid.
        self.models.iter().fold(&self.models[0], |best, model| {
            let rank = |m: &ModelSpec| (m.tier, Self::blended_price(m));
            let (tier, price) = rank(model);
            let (best_tier, best_price) = rank(best);
            if tier > best_tier || (tier == best_tier && price > best_price) {
                model
            } else {
                best
            }
        })
    }
}

fn preference_order(models: &[ModelSpec]) -> Vec<ModelId> {
    let mut order: Vec<usize> = (0..models.len()).collect();
    order.sort_by(|&a, &b| {
        let (ma, mb) = (&models[a], &models[b]);
        ma.tier
            .cmp(&mb.tier)
            .then(Catalog::blended_price(ma).total_cmp(&Catalog::blended_price(mb)))
            .then(ma.name.cmp(&mb.name))
    });
    order
        .into_iter()
        .filter_map(|i| u32::try_from(i).ok().map(ModelId))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn model(name: &str, tier: usize, input: f64, output: f64) -> ModelSpec {
        ModelSpec {
            name: name.to_owned(),
            provider: "p".to_owned(),
            upstream_model: name.to_owned(),
            tier,
            input_usd_per_mtok: input,
            output_usd_per_mtok: output,
            context_window: 128_000,
            capabilities: vec![],
        }
    }

    fn tiers(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn rejects_invalid_catalogs() {
        assert_eq!(
            Catalog::new(tiers(&["a"]), vec![]),
            Err(CatalogError::Empty)
        );
        assert_eq!(
            Catalog::new(vec![], vec![model("m", 0, 1.0, 1.0)]),
            Err(CatalogError::NoTiers)
        );
        assert_eq!(
            Catalog::new(
                tiers(&["a"]),
                vec![model("m", 0, 1.0, 1.0), model("m", 0, 1.0, 1.0)]
            ),
            Err(CatalogError::DuplicateModel("m".into()))
        );
        assert!(matches!(
            Catalog::new(tiers(&["a"]), vec![model("m", 1, 1.0, 1.0)]),
            Err(CatalogError::UnknownTier { .. })
        ));
        assert!(matches!(
            Catalog::new(tiers(&["a"]), vec![model("m", 0, -1.0, 1.0)]),
            Err(CatalogError::InvalidPrice { .. })
        ));
        assert!(matches!(
            Catalog::new(tiers(&["a"]), vec![model("m", 0, f64::NAN, 1.0)]),
            Err(CatalogError::InvalidPrice { .. })
        ));
    }

    #[test]
    fn orders_by_tier_then_price_and_picks_the_priciest_top_model_as_baseline() {
        let catalog = Catalog::new(
            tiers(&["small", "large"]),
            vec![
                model("big-cheap", 1, 2.0, 8.0),
                model("small-pricey", 0, 0.5, 1.5),
                model("big-pricey", 1, 10.0, 30.0),
                model("small-cheap", 0, 0.1, 0.4),
            ],
        )
        .unwrap();
        let names: Vec<&str> = catalog
            .models_by_preference()
            .iter()
            .filter_map(|&id| catalog.get(id))
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(
            names,
            ["small-cheap", "small-pricey", "big-cheap", "big-pricey"]
        );
        assert_eq!(catalog.baseline_model().name, "big-pricey");
    }

    #[test]
    fn costs_are_per_million_tokens() {
        let m = model("m", 0, 2.5, 10.0);
        assert!((m.cost_usd(1_000_000, 0) - 2.5).abs() < 1e-12);
        assert!((m.cost_usd(1000, 500) - (0.0025 + 0.005)).abs() < 1e-12);
    }
}
