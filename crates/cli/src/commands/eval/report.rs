//! The evaluation report: one serialisable structure behind both the human table and the
//! `--json` output, so the two never disagree. JSON keys are a stable interface for scripts:
//! add keys, never rename them.

use std::fmt::Write as _;

use routewise_learn::eval::frontier::{cheapest_reaching, pareto_frontier};
use routewise_learn::eval::{CurvePoint, OperatingPoint, PolicySummary};
use serde::Serialize;

use super::dataset::EvalData;
use super::policies::PolicyResult;

#[derive(Debug, Serialize)]
pub struct Report {
    pub data: DataInfo,
    /// The two models the two-model metrics (APGR, CPT, savings) compare.
    pub pair: PairInfo,
    pub policies: Vec<PolicyEntry>,
    /// Every model on its own: always sending every prompt to it.
    pub models: Vec<ModelPoint>,
    /// Per prompt the best model, the cheapest among equals: what perfect routing would reach.
    pub oracle: OperatingPoint,
    /// N-model view (more than two models): each policy's quality/cost frontier against every
    /// single model.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub frontiers: Vec<Frontier>,
}

#[derive(Debug, Serialize)]
pub struct DataInfo {
    pub files: Vec<String>,
    pub prompts: usize,
    pub categories: usize,
    /// `per-prompt` when every cost comes from the data, else `prices x tokens` (assuming
    /// `output_tokens` completion tokens per call).
    pub costs: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    /// The price catalog that costed prompts from tokens (a file, or the bundled one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prices: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct PairInfo {
    pub weak: String,
    pub strong: String,
    pub weak_quality: f64,
    pub strong_quality: f64,
    /// Mean USD per prompt.
    pub weak_cost: f64,
    pub strong_cost: f64,
}

#[derive(Debug, Serialize)]
pub struct PolicyEntry {
    #[serde(flatten)]
    pub summary: PolicySummary,
    /// Threshold sweep: evenly spaced strong shares with quality, PGR and mean cost.
    pub sweep: Vec<SweepPoint>,
}

#[derive(Debug, Serialize)]
pub struct SweepPoint {
    pub strong_share: f64,
    pub quality: f64,
    pub pgr: f64,
    pub cost: f64,
}

#[derive(Debug, Serialize)]
pub struct ModelPoint {
    pub name: String,
    pub quality: f64,
    pub cost: f64,
}

#[derive(Debug, Serialize)]
pub struct Frontier {
    pub name: String,
    pub points: Vec<OperatingPoint>,
    /// For each single model: the cheapest frontier point at least as good, if any.
    pub matches: Vec<Match>,
}

#[derive(Debug, Serialize)]
pub struct Match {
    pub model: String,
    pub model_quality: f64,
    pub model_cost: f64,
    pub quality: Option<f64>,
    pub cost: Option<f64>,
    /// `cost / model_cost`: below 1 the policy matches the model for less.
    pub cost_ratio: Option<f64>,
}

impl Report {
    pub fn new(
        files: Vec<String>,
        data: &EvalData,
        output_tokens: u64,
        results: Vec<PolicyResult>,
    ) -> anyhow::Result<Self> {
        let outcomes = &data.outcomes;
        let by_cost = outcomes.models_by_cost();
        let models: Vec<ModelPoint> = by_cost
            .iter()
            .map(|&m| {
                let point = outcomes.single_model(m);
                ModelPoint {
                    name: data.models[m].clone(),
                    quality: point.quality,
                    cost: point.cost,
                }
            })
            .collect();
        let weak = outcomes.single_model(data.weak);
        let strong = outcomes.single_model(data.strong);
        let gap = strong.quality - weak.quality;
        let frontiers = if data.models.len() > 2 {
            results
                .iter()
                .map(|r| frontier(&r.summary.name, &r.points, &models))
                .collect()
        } else {
            Vec::new()
        };
        let policies = results
            .into_iter()
            .map(|r| PolicyEntry {
                summary: r.summary,
                sweep: r
                    .sweep
                    .iter()
                    .map(|p: &CurvePoint| SweepPoint {
                        strong_share: p.strong_share,
                        quality: p.quality,
                        pgr: (p.quality - weak.quality) / gap,
                        cost: p.cost,
                    })
                    .collect(),
            })
            .collect();
        Ok(Self {
            data: DataInfo {
                files,
                prompts: outcomes.prompts(),
                categories: data.categories(),
                costs: if data.priced_from_tokens {
                    "prices x tokens"
                } else {
                    "per-prompt"
                },
                output_tokens: data.priced_from_tokens.then_some(output_tokens),
                prices: data.prices_origin.clone(),
            },
            pair: PairInfo {
                weak: data.models[data.weak].clone(),
                strong: data.models[data.strong].clone(),
                weak_quality: weak.quality,
                strong_quality: strong.quality,
                weak_cost: weak.cost,
                strong_cost: strong.cost,
            },
            policies,
            models,
            oracle: outcomes.evaluate(&outcomes.oracle_choices())?,
            frontiers,
        })
    }

    /// The report as tables for humans.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let d = &self.data;
        let _ = writeln!(
            out,
            "{} prompts in {} categories; costs {}{}",
            d.prompts,
            d.categories,
            d.costs,
            d.output_tokens
                .map(|t| format!(" ({t} output tokens assumed per call)"))
                .unwrap_or_default()
        );
        if let Some(origin) = &d.prices {
            let _ = writeln!(out, "prices from {origin}");
        }
        let p = &self.pair;
        let _ = writeln!(
            out,
            "weak   {:<40} quality {:>6}  {}/1k prompts\nstrong {:<40} quality {:>6}  {}/1k prompts\n",
            p.weak,
            percent(p.weak_quality),
            dollars(p.weak_cost),
            p.strong,
            percent(p.strong_quality),
            dollars(p.strong_cost)
        );
        self.render_summary(&mut out);
        self.render_sweep(&mut out);
        if !self.frontiers.is_empty() {
            self.render_frontiers(&mut out);
        }
        out
    }

    fn render_summary(&self, out: &mut String) {
        let width = self
            .policies
            .iter()
            .map(|p| p.summary.name.len())
            .max()
            .unwrap_or(0)
            .max(12);
        let _ = writeln!(
            out,
            "{:<width$} {:>13} {:>8} {:>8} {:>8} {:>16} {:>14}",
            "policy", "APGR", "CPT50", "CPT80", "CPT95", "savings@95%", "$/1k @95%"
        );
        for entry in &self.policies {
            let s = &entry.summary;
            let apgr = match &s.spread {
                Some(spread) => format!("{:.3}±{:.3}", s.apgr, spread.apgr_std),
                None => format!("{:.3}", s.apgr),
            };
            let savings = match (&s.spread, s.savings_at_95) {
                (Some(spread), Some(v)) => {
                    format!("{}±{:.1}", percent(v), 100.0 * spread.savings_at_95_std)
                }
                (_, v) => v.map(percent).unwrap_or_else(|| "-".into()),
            };
            let _ = writeln!(
                out,
                "{:<width$} {:>13} {:>8} {:>8} {:>8} {:>16} {:>14}",
                s.name,
                apgr,
                share(s.cpt50),
                share(s.cpt80),
                share(s.cpt95),
                savings,
                s.cost_at_95.map(dollars).unwrap_or_else(|| "-".into())
            );
            if let Some(op) = &s.operating_point {
                let _ = writeln!(
                    out,
                    "{:<width$} operates at {} strong calls: quality {}, PGR {:.2}, {}/1k prompts",
                    "",
                    percent(op.strong_share),
                    percent(op.quality),
                    op.pgr,
                    dollars(op.cost)
                );
            }
        }
        if let Some(seeds) = self.policies.iter().find_map(|p| p.summary.spread) {
            let _ = writeln!(out, "(random: mean ± std over {} seeds)", seeds.seeds);
        }
        let _ = writeln!(
            out,
            "CPTx = share of strong calls needed to recover x% of the quality gap; savings@95% = \
             saving against always-strong at 95% of its quality.\n"
        );
    }

    fn render_sweep(&self, out: &mut String) {
        let _ = write!(
            out,
            "deferral curve: quality (and $/1k prompts) by share of strong calls\n{:>7}",
            "strong"
        );
        for entry in &self.policies {
            let _ = write!(out, " {:>20}", entry.summary.name);
        }
        let _ = writeln!(out);
        let Some(first) = self.policies.first() else {
            return;
        };
        let steps = first.sweep.len().saturating_sub(1).max(1);
        for row in (0..=10).map(|i| i * steps / 10) {
            let _ = write!(out, "{:>7}", percent(first.sweep[row].strong_share));
            for entry in &self.policies {
                let point = &entry.sweep[row];
                let _ = write!(
                    out,
                    " {:>9} ({:>8})",
                    percent(point.quality),
                    dollars(point.cost)
                );
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(out);
    }

    fn render_frontiers(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "N-model view: each model alone, and the cheapest point of each policy's frontier that \
             reaches its quality (cost as a share of the model's)"
        );
        let _ = write!(out, "{:<36} {:>8} {:>10}", "model", "quality", "$/1k");
        for frontier in &self.frontiers {
            let _ = write!(out, " {:>12}", frontier.name);
        }
        let _ = writeln!(out);
        for (index, model) in self.models.iter().enumerate() {
            let _ = write!(
                out,
                "{:<36} {:>8} {:>10}",
                model.name,
                percent(model.quality),
                dollars(model.cost)
            );
            for frontier in &self.frontiers {
                let cell = frontier.matches[index]
                    .cost_ratio
                    .map(percent)
                    .unwrap_or_else(|| "-".into());
                let _ = write!(out, " {cell:>12}");
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(
            out,
            "{:<36} {:>8} {:>10}",
            "oracle (best model per prompt)",
            percent(self.oracle.quality),
            dollars(self.oracle.cost)
        );
    }
}

fn frontier(name: &str, points: &[OperatingPoint], models: &[ModelPoint]) -> Frontier {
    let points = pareto_frontier(points);
    let matches = models
        .iter()
        .map(|model| {
            let reached = cheapest_reaching(&points, model.quality);
            Match {
                model: model.name.clone(),
                model_quality: model.quality,
                model_cost: model.cost,
                quality: reached.map(|p| p.quality),
                cost: reached.map(|p| p.cost),
                cost_ratio: reached
                    .filter(|_| model.cost > 0.0)
                    .map(|p| p.cost / model.cost),
            }
        })
        .collect();
    Frontier {
        name: name.to_owned(),
        points,
        matches,
    }
}

fn percent(value: f64) -> String {
    format!("{:.1}%", 100.0 * value)
}

fn share(value: Option<f64>) -> String {
    value.map(percent).unwrap_or_else(|| "-".into())
}

/// Mean USD per prompt shown per thousand prompts, where the figures are readable, with four
/// significant digits or so whatever the price level.
fn dollars(per_prompt: f64) -> String {
    let per_1k = 1000.0 * per_prompt;
    match per_1k.abs() {
        v if v >= 100.0 => format!("${per_1k:.1}"),
        v if v >= 1.0 => format!("${per_1k:.3}"),
        _ => format!("${per_1k:.4}"),
    }
}
