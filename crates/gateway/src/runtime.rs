//! One compiled configuration, ready to serve: the router, the decision stages, providers and
//! client keys. Built off the hot path and swapped atomically on reload.

use crate::auth::KeyStore;
use crate::decide::{self, DecisionStage};
use crate::error::GatewayError;
use routewise_config::Config;
use routewise_config::server::{CacheConfig, RouteConfig};
use routewise_core::{ModelSpec, RouteError, Router};
use routewise_providers::{
    ApiKey, Provider, ProviderError, ProviderKind, ProviderSettings, Redactor,
};
use std::collections::HashMap;
use std::sync::Arc;
use thiserror::Error;

/// Why a configuration cannot be served.
#[derive(Debug, Error)]
pub enum BuildError {
    #[error(
        "provider `{provider}` reads its API key from ${var}, which is not set: export it before starting routewise"
    )]
    MissingApiKey { provider: String, var: String },
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error("cannot build the router: {0}")]
    Route(#[from] RouteError),
}

/// What a request's `model` names.
#[derive(Debug)]
pub enum Target<'a> {
    /// `auto` or a named route: the route's policy decides.
    Route(&'a RouteConfig),
    /// A catalog model, honoured as asked.
    Model,
}

/// A served configuration.
#[derive(Debug)]
pub struct Runtime {
    pub config: Config,
    routes: HashMap<String, RouteConfig>,
    /// Analyses every request (one tokenisation) and resolves every policy's choice.
    pub router: Router,
    /// The decision stages, in order (see [`crate::decide`]).
    pub stages: Vec<Box<dyn DecisionStage>>,
    providers: HashMap<String, Arc<dyn Provider>>,
    /// Models whose connect timeout differs from the default get their own provider instance
    /// (and so their own connection pool, since the timeout belongs to the pool's connector).
    model_providers: HashMap<String, Arc<dyn Provider>>,
    pub keys: KeyStore,
    /// Masks every provider key in what the gateway answers and logs.
    pub redactor: Arc<Redactor>,
}

impl Runtime {
    /// Builds providers (API keys read through `env`), routers and key store for `config`.
    pub fn build(config: Config, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, BuildError> {
        let server = &config.server;
        let exec = &server.execution;
        let mut providers: HashMap<String, Arc<dyn Provider>> = HashMap::new();
        let mut settings_by_name = HashMap::new();
        let mut secrets = Vec::new();
        for p in &config.providers {
            let api_key = match &p.api_key_env {
                None => None,
                Some(var) => Some(ApiKey::new(env(var).ok_or_else(|| {
                    BuildError::MissingApiKey {
                        provider: p.name.clone(),
                        var: var.clone(),
                    }
                })?)),
            };
            let settings = ProviderSettings {
                name: p.name.clone(),
                kind: match p.kind {
                    routewise_config::ProviderKind::OpenAi => ProviderKind::OpenAi,
                    routewise_config::ProviderKind::Anthropic => ProviderKind::Anthropic,
                },
                base_url: p.base_url.clone(),
                api_key,
                connect_timeout: exec.timeouts.connect,
            };
            if let Some(key) = &settings.api_key {
                secrets.push(key.expose().to_owned());
            }
            providers.insert(
                p.name.clone(),
                routewise_providers::build(settings.clone())?,
            );
            settings_by_name.insert(p.name.clone(), settings);
        }
        let mut model_providers = HashMap::new();
        for model in config.catalog.models() {
            let connect = exec.timeouts_for(&model.name).connect;
            if let Some(settings) = settings_by_name.get(&model.provider)
                && connect != exec.timeouts.connect
            {
                let settings = ProviderSettings {
                    connect_timeout: connect,
                    ..settings.clone()
                };
                model_providers.insert(model.name.clone(), routewise_providers::build(settings)?);
            }
        }
        let routes = server
            .routes
            .iter()
            .map(|route| (route.name.clone(), route.clone()))
            .collect();
        let router = config.router()?;
        let keys = KeyStore::new(
            &server.client_keys,
            &server.default_user_tier,
            server.trust_tier_header,
        );
        let stages = decide::stages(&config);
        Ok(Self {
            config,
            routes,
            router,
            stages,
            providers,
            model_providers,
            keys,
            redactor: Arc::new(Redactor::new(secrets.iter().map(String::as_str))),
        })
    }

    /// The response cache's settings, when at least one route caches.
    pub fn cache_settings(&self) -> Option<CacheConfig> {
        let server = &self.config.server;
        server
            .routes
            .iter()
            .any(|r| r.cache)
            .then_some(server.cache)
    }

    /// What `model` names: a route, a catalog model, or nothing (404).
    pub fn resolve(&self, model: &str) -> Result<Target<'_>, GatewayError> {
        if let Some(route) = self.routes.get(model) {
            return Ok(Target::Route(route));
        }
        if self.config.catalog.model(model).is_some() {
            return Ok(Target::Model);
        }
        let mut routes: Vec<&str> = self.routes.keys().map(String::as_str).collect();
        routes.sort_unstable();
        let models: Vec<&str> = self
            .config
            .catalog
            .models()
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        Err(GatewayError::UnknownModel {
            requested: model.to_owned(),
            routes: routes.join(", "),
            models: models.join(", "),
        })
    }

    /// The provider serving a catalog model (config validation guarantees it exists).
    pub fn provider_for(&self, model: &ModelSpec) -> Option<&Arc<dyn Provider>> {
        self.model_providers
            .get(&model.name)
            .or_else(|| self.providers.get(&model.provider))
    }

    /// Models clients may name: routes first, then the catalog.
    pub fn model_names(&self) -> Vec<(String, String)> {
        let mut routes: Vec<(String, String)> = self
            .routes
            .keys()
            .map(|r| (r.clone(), "routewise".to_owned()))
            .collect();
        routes.sort_unstable();
        routes.extend(
            self.config
                .catalog
                .models()
                .iter()
                .map(|m| (m.name.clone(), m.provider.clone())),
        );
        routes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
tiers = ["economy", "frontier"]
[[providers]]
name = "local"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
[[providers]]
name = "hosted"
kind = "anthropic"
base_url = "https://api.anthropic.com/v1"
api_key_env = "TEST_ANTHROPIC_KEY"
[[models]]
name = "small"
provider = "local"
tier = "economy"
input_usd_per_mtok = 0.1
output_usd_per_mtok = 0.2
context_window = 8000
[[models]]
name = "large"
provider = "local"
tier = "frontier"
input_usd_per_mtok = 1.0
output_usd_per_mtok = 2.0
context_window = 8000
[[models]]
name = "claude"
provider = "hosted"
tier = "frontier"
input_usd_per_mtok = 3.0
output_usd_per_mtok = 15.0
context_window = 8000
[server.execution.models.large]
connect_timeout_ms = 100
"#;

    fn config() -> Config {
        routewise_config::from_str_with_env(CONFIG, &|_| None).unwrap()
    }

    #[test]
    fn a_missing_api_key_names_its_variable() {
        let err = Runtime::build(config(), &|_| None).unwrap_err();
        assert!(err.to_string().contains("$TEST_ANTHROPIC_KEY"), "{err}");
    }

    #[test]
    fn a_model_with_its_own_connect_timeout_gets_its_own_pool() {
        let runtime = Runtime::build(config(), &|_| Some("k".to_owned())).unwrap();
        let catalog = Arc::clone(&runtime.config.catalog);
        let provider =
            |name: &str| Arc::clone(runtime.provider_for(catalog.model(name).unwrap()).unwrap());
        assert!(!Arc::ptr_eq(&provider("small"), &provider("large")));
        assert_eq!(provider("large").name(), "local");
        assert!(Arc::ptr_eq(&provider("small"), &provider("small")));
    }

    #[test]
    fn models_resolve_to_routes_catalog_models_or_a_404() {
        let runtime = Runtime::build(config(), &|_| Some("k".to_owned())).unwrap();
        assert!(matches!(runtime.resolve("auto"), Ok(Target::Route(_))));
        assert!(matches!(runtime.resolve("claude"), Ok(Target::Model)));
        assert!(matches!(
            runtime.resolve("gpt-9"),
            Err(GatewayError::UnknownModel { .. })
        ));
    }
}
