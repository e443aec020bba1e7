//! The model price catalog (`models.json`): list prices in USD per million input and output
//! tokens, used to cost prompts whose benchmark recorded no per-prompt cost.

use std::path::Path;

use serde::Deserialize;

use crate::DataError;

/// How [`PriceCatalog::bundled`] names itself in messages.
pub const BUNDLED_CATALOG_NAME: &str = "the bundled price catalog (data/benchmarks/models.json)";

const BUNDLED_CATALOG: &str = include_str!("../../../data/benchmarks/models.json");

/// One model's list price. Other keys of the file (sources, dates) document the price and are
/// ignored here.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ModelPrice {
    pub name: String,
    /// Other names the same model goes by in benchmark files.
    #[serde(default)]
    pub aliases: Vec<String>,
    pub input_usd_per_1m: f64,
    pub output_usd_per_1m: f64,
}

impl ModelPrice {
    /// USD for one call with the given token counts.
    pub fn cost_usd(&self, input_tokens: u64, output_tokens: u64) -> f64 {
        (input_tokens as f64 * self.input_usd_per_1m
            + output_tokens as f64 * self.output_usd_per_1m)
            / 1_000_000.0
    }
}

/// Every priced model, looked up by name or alias.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PriceCatalog {
    models: Vec<ModelPrice>,
}

impl PriceCatalog {
    /// Parses the JSON text of a catalog; `origin` names it in errors.
    pub fn from_json(text: &str, origin: &Path) -> Result<Self, DataError> {
        let catalog: Self = serde_json::from_str(text).map_err(|source| DataError::BadPrices {
            path: origin.to_path_buf(),
            source,
        })?;
        // Benchmark costs are checked the same way: a negative or infinite price would turn
        // every cost figure computed from it into nonsense without an error.
        for model in &catalog.models {
            let fields = [
                ("input_usd_per_1m", model.input_usd_per_1m),
                ("output_usd_per_1m", model.output_usd_per_1m),
            ];
            if let Some((field, value)) = fields
                .into_iter()
                .find(|(_, v)| !(v.is_finite() && *v >= 0.0))
            {
                return Err(DataError::BadPrice {
                    path: origin.to_path_buf(),
                    model: model.name.clone(),
                    field,
                    value,
                });
            }
        }
        Ok(catalog)
    }

    /// Reads a catalog file.
    pub fn load(path: &Path) -> Result<Self, DataError> {
        let text = std::fs::read_to_string(path).map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&text, path)
    }

    /// The catalog shipped in the binary (`data/benchmarks/models.json`): list prices of every
    /// model the bundled benchmarks name, for data that brings no catalog of its own.
    pub fn bundled() -> Result<Self, DataError> {
        Self::from_json(BUNDLED_CATALOG, Path::new(BUNDLED_CATALOG_NAME))
    }

    /// The name this catalog first lists for `model` (the first entry whose name or alias it
    /// is), so that one model named differently by two benchmarks becomes one model; `None`
    /// when the catalog does not know it.
    pub fn canonical_name(&self, model: &str) -> Option<&str> {
        self.models
            .iter()
            .find(|p| p.name == model || p.aliases.iter().any(|a| a == model))
            .map(|p| p.name.as_str())
    }

    /// The price of a model by exact name, else by alias.
    pub fn price(&self, model: &str) -> Option<&ModelPrice> {
        self.models.iter().find(|p| p.name == model).or_else(|| {
            self.models
                .iter()
                .find(|p| p.aliases.iter().any(|a| a == model))
        })
    }

    pub fn models(&self) -> &[ModelPrice] {
        &self.models
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CATALOG: &str = r#"{"note": "x", "models": [
        {"name": "gpt-4", "input_usd_per_1m": 10.0, "output_usd_per_1m": 30.0, "sources": ["a"]},
        {"name": "mixtral", "aliases": ["mistralai/mixtral-8x7b-chat"], "input_usd_per_1m": 0.6,
         "output_usd_per_1m": 0.6}]}"#;

    #[test]
    fn finds_models_by_name_and_alias_and_prices_tokens() {
        let catalog = PriceCatalog::from_json(CATALOG, Path::new("models.json")).unwrap();
        let gpt4 = catalog.price("gpt-4").unwrap();
        assert!((gpt4.cost_usd(1_000, 100) - 0.013).abs() < 1e-12);
        assert_eq!(
            catalog.price("mistralai/mixtral-8x7b-chat").unwrap().name,
            "mixtral"
        );
        assert!(catalog.price("unknown").is_none());
    }

    #[test]
    fn canonical_names_follow_the_first_entry_that_names_a_model() {
        let text = r#"{"models": [
            {"name": "big", "input_usd_per_1m": 1, "output_usd_per_1m": 1},
            {"name": "mixtral", "aliases": ["m-chat"], "input_usd_per_1m": 1, "output_usd_per_1m": 1},
            {"name": "m-chat", "aliases": ["mixtral"], "input_usd_per_1m": 1, "output_usd_per_1m": 1}]}"#;
        let catalog = PriceCatalog::from_json(text, Path::new("p.json")).unwrap();
        assert_eq!(catalog.canonical_name("m-chat"), Some("mixtral"));
        assert_eq!(catalog.canonical_name("mixtral"), Some("mixtral"));
        assert_eq!(catalog.canonical_name("big"), Some("big"));
        assert_eq!(catalog.canonical_name("small"), None);
    }

    #[test]
    fn the_bundled_catalog_prices_every_bundled_model_and_joins_mixtral() {
        let catalog = PriceCatalog::bundled().unwrap();
        for name in ["mistralai/mixtral-8x7b-chat", "mixtral-8x7b-instruct-v0.1"] {
            assert_eq!(
                catalog.canonical_name(name),
                Some("mistralai/Mixtral-8x7B-Instruct-v0.1")
            );
        }
        assert!(catalog.price("gpt-4-1106-preview").is_some());
        assert!(catalog.price("llama-3.1-8b-instruct").is_some());
    }

    #[test]
    fn rejects_negative_prices() {
        // JSON has no NaN or infinity (serde refuses 1e309), so negatives are what gets in.
        for (price, shown) in [("-5", "-5"), ("-0.5", "-0.5")] {
            let text = format!(
                r#"{{"models": [{{"name": "a", "input_usd_per_1m": 1, "output_usd_per_1m": {price}}}]}}"#
            );
            let err = PriceCatalog::from_json(&text, Path::new("p.json")).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "p.json: output_usd_per_1m of \"a\" is {shown}, but prices must be finite USD per million tokens >= 0"
                )
            );
        }
    }

    #[test]
    fn rejects_a_file_without_prices() {
        let err = PriceCatalog::from_json(r#"{"models": [{"name": "a"}]}"#, Path::new("p.json"));
        assert!(
            err.unwrap_err()
                .to_string()
                .starts_with("p.json is not a price catalog")
        );
    }
}
