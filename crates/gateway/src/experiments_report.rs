//! An experiment's report from the store's decision records and feedback: requests, cost per
//! request, strong share, savings against always-strong, quality with its interval and its
//! deltas against control and the incumbent, then a recommendation for each candidate (cut
//! over, keep testing, roll back). `routewise report` prints it; the dashboard shows it.
//!
//! Shadows never served, so their cost is the decision's estimate and their quality is
//! estimated on the rated requests: the served score where the shadow chose the served model,
//! else the mean score of the shadow's model on the most similar rated requests it served
//! (memory's fingerprints), else that model's mean score.

use routewise_config::Config;
use routewise_config::experiments::{CONTROL_ARM, ExperimentConfig};
use routewise_core::memory::Fingerprint;
use routewise_learn::experiments::report::{
    GroupReport, Observation, Recommendation, Tally, recommend,
};
use routewise_store::{ScoredQuery, ScoredRecord, Store, StoreResult};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// Rated requests per model that shadow estimates search for neighbours.
const POOL: usize = 2_000;
const NEIGHBOURS: usize = 10;
/// Fingerprint similarity below which a rated request is not "similar".
const MIN_SIMILARITY: f64 = 0.3;
/// Records read per page: memory stays bounded whatever the store holds.
const PAGE: usize = 5_000;

/// One experiment's report.
#[derive(Debug, Clone, Serialize)]
pub struct ExperimentReport {
    pub name: String,
    pub records: u64,
    pub groups: Vec<GroupReport>,
    pub recommendations: Vec<Recommendation>,
    pub notes: Vec<String>,
}

/// The report of `experiment` over its records created in `[since, until)` (`None`: open).
pub async fn experiment_report(
    store: &dyn Store,
    config: &Config,
    experiment: &ExperimentConfig,
    since_unix_ms: Option<i64>,
    until_unix_ms: Option<i64>,
) -> StoreResult<ExperimentReport> {
    let mut query = ScoredQuery {
        since_unix_ms,
        until_unix_ms,
        experiment: Some(experiment.name.clone()),
        after: None,
        limit: PAGE,
    };
    let mut groups = Groups::new(config);
    let mut records = 0;
    loop {
        let page = store.scored_records(&query).await?;
        for record in &page {
            groups.add(record);
        }
        records += page.len() as u64;
        match page.last() {
            Some(last) if page.len() == PAGE => {
                query.after = Some((last.record.created_unix_ms, last.record.request_id.clone()));
            }
            _ => return Ok(groups.report(experiment, records)),
        }
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
        let mut notes: Vec<String> = self.settle_shadow_estimates().into_iter().collect();
        let control = self.arms.get(CONTROL_ARM).map(|(t, _)| t.clone());
        let incumbent_name = experiment
            .incumbent_arm()
            .map_or_else(|| "served".to_owned(), |a| a.name.clone());
        let incumbent = self.arms.get(&incumbent_name).map(|(t, _)| t.clone());
        let reference = Reference {
            control: control.as_ref(),
            incumbent_name: &incumbent_name,
            incumbent: incumbent.as_ref(),
        };
        let groups = self.groups(experiment, &reference);
        let recommendations = match reference.incumbent {
            Some(tally) => self.recommendations(experiment, &incumbent_name, tally),
            None => {
                if records > 0 {
                    notes.push(format!(
                        "no records of the incumbent `{incumbent_name}` yet: nothing to compare with"
                    ));
                }
                Vec::new()
            }
        };
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

    /// Adds the estimated quality of every shadow decision that chose another model than the
    /// served one; the note saying how they were estimated, if there were any.
    fn settle_shadow_estimates(&mut self) -> Option<String> {
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
        (by_neighbours + by_mean + unestimated > 0).then(|| format!(
            "shadow quality where a shadow chose another model than the served one: {by_neighbours} estimated from similar rated requests, {by_mean} from the model's mean score, {unestimated} not estimable (that model was never rated); shadow costs are the decisions' estimates"
        ))
    }

    /// Every arm's and shadow's report, each against the control and the incumbent.
    fn groups(&self, experiment: &ExperimentConfig, reference: &Reference<'_>) -> Vec<GroupReport> {
        let confidence = experiment.confidence;
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
            let versus_control = reference.control.filter(|_| kind != "control");
            let versus_incumbent = reference
                .incumbent
                .filter(|_| name != reference.incumbent_name);
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
                reference.control,
                reference.incumbent,
                confidence,
            ));
        }
        groups
    }

    /// A recommendation for every candidate arm and shadow against the incumbent.
    fn recommendations(
        &self,
        experiment: &ExperimentConfig,
        incumbent_name: &str,
        incumbent: &Tally,
    ) -> Vec<Recommendation> {
        let candidates = self
            .arms
            .iter()
            .filter(|(name, _)| *name != incumbent_name && name.as_str() != CONTROL_ARM)
            .map(|(name, (tally, _))| (name.clone(), tally))
            .chain(
                self.shadows
                    .iter()
                    .map(|(policy, tally)| (format!("shadow:{policy}"), tally)),
            );
        candidates
            .map(|(name, tally)| {
                recommend(
                    (&name, &tally.quality),
                    (incumbent_name, &incumbent.quality),
                    experiment.tolerance,
                    experiment.confidence,
                )
            })
            .collect()
    }
}

/// What every group is compared with.
struct Reference<'a> {
    control: Option<&'a Tally>,
    incumbent_name: &'a str,
    incumbent: Option<&'a Tally>,
}
