//! What a simulation reports: per policy, over the whole stream, its last half and windows of
//! it, the quality delivered, the cost per request, the strong share, the quality left on the
//! table against the oracle (regret), and PGR, the share of the gap between always-cheapest and
//! always-strongest it recovers (random routing recovers about its strong share). Figures are
//! means over seeds.

use std::fmt::Write as _;

use serde::Serialize;

use super::replay::Step;

/// The figures of one stretch of the stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Figures {
    pub quality: f64,
    pub cost_per_request_usd: f64,
    pub strong_share: f64,
    pub pgr: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Window {
    pub start: usize,
    pub end: usize,
    pub quality: f64,
    pub cost_per_request_usd: f64,
    pub strong_share: f64,
    /// Cumulative regret at the window's end.
    pub regret: f64,
    /// The target controller's bias at the window's end.
    pub bias: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicyReport {
    pub name: String,
    pub quality: f64,
    pub cost_per_request_usd: f64,
    pub strong_share: f64,
    pub pgr: f64,
    /// Sum over requests of the oracle's quality minus the served quality.
    pub regret: f64,
    pub spend_usd: f64,
    /// Requests the gateway could not serve.
    pub failed: f64,
    /// Whether the controllers held this policy (it has a threshold to move).
    pub controlled: bool,
    pub last_half: Figures,
    /// Standard deviation over seeds of the last half's quality.
    pub last_half_quality_sd: f64,
    /// With a strong-share target: the largest distance of a window's share from it, after
    /// the first window (warm-up).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_window_share_error: Option<f64>,
    pub windows: Vec<Window>,
}

/// The always-one-model references over the stream (same prompts).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct References {
    pub weak_quality: f64,
    pub strong_quality: f64,
    pub oracle_quality: f64,
}

/// One seed's run, with the references over its stream.
#[derive(Debug)]
pub struct SeedRun {
    pub steps: Vec<Step>,
    /// Per position in the stream: always-weak and always-strong quality.
    pub weak: Vec<f64>,
    pub strong: Vec<f64>,
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { 0.0 } else { sum / n as f64 }
}

fn pgr(quality: f64, weak: f64, strong: f64) -> f64 {
    if (strong - weak).abs() < 1e-12 {
        0.0
    } else {
        (quality - weak) / (strong - weak)
    }
}

fn figures(run: &SeedRun, range: std::ops::Range<usize>) -> Figures {
    let steps = &run.steps[range.clone()];
    let quality = mean(steps.iter().map(|s| s.quality));
    Figures {
        quality,
        cost_per_request_usd: mean(steps.iter().map(|s| s.cost_usd)),
        strong_share: mean(steps.iter().map(|s| f64::from(u8::from(s.strong)))),
        pgr: pgr(
            quality,
            mean(run.weak[range.clone()].iter().copied()),
            mean(run.strong[range].iter().copied()),
        ),
    }
}

fn mean_figures(all: &[Figures]) -> Figures {
    Figures {
        quality: mean(all.iter().map(|f| f.quality)),
        cost_per_request_usd: mean(all.iter().map(|f| f.cost_per_request_usd)),
        strong_share: mean(all.iter().map(|f| f.strong_share)),
        pgr: mean(all.iter().map(|f| f.pgr)),
    }
}

impl PolicyReport {
    pub fn new(
        name: String,
        controlled: bool,
        runs: &[SeedRun],
        windows: usize,
        target: Option<f64>,
    ) -> Self {
        let n = runs.first().map_or(0, |r| r.steps.len());
        let whole: Vec<Figures> = runs.iter().map(|r| figures(r, 0..n)).collect();
        let last: Vec<Figures> = runs.iter().map(|r| figures(r, n / 2..n)).collect();
        let whole_mean = mean_figures(&whole);
        let last_mean = mean_figures(&last);
        let sd = {
            let m = last_mean.quality;
            mean(last.iter().map(|f| (f.quality - m).powi(2))).sqrt()
        };
        let regret = mean(runs.iter().map(|r| {
            r.steps
                .iter()
                .map(|s| s.oracle_quality - s.quality)
                .sum::<f64>()
        }));
        let windows = window_figures(runs, windows.clamp(1, n.max(1)));
        let max_window_share_error = target.filter(|_| controlled).map(|t| {
            windows
                .iter()
                .skip(1)
                .map(|w| (w.strong_share - t).abs())
                .fold(0.0, f64::max)
        });
        Self {
            name,
            quality: whole_mean.quality,
            cost_per_request_usd: whole_mean.cost_per_request_usd,
            strong_share: whole_mean.strong_share,
            pgr: whole_mean.pgr,
            regret,
            spend_usd: mean(
                runs.iter()
                    .map(|r| r.steps.iter().map(|s| s.cost_usd).sum()),
            ),
            failed: mean(
                runs.iter()
                    .map(|r| r.steps.iter().filter(|s| s.failed).count() as f64),
            ),
            controlled,
            last_half: last_mean,
            last_half_quality_sd: sd,
            max_window_share_error,
            windows,
        }
    }
}

fn window_figures(runs: &[SeedRun], count: usize) -> Vec<Window> {
    let n = runs.first().map_or(0, |r| r.steps.len());
    (0..count)
        .map(|w| {
            let (start, end) = (w * n / count, (w + 1) * n / count);
            let per_seed: Vec<Window> = runs
                .iter()
                .map(|r| {
                    let f = figures(r, start..end);
                    Window {
                        start,
                        end,
                        quality: f.quality,
                        cost_per_request_usd: f.cost_per_request_usd,
                        strong_share: f.strong_share,
                        regret: r.steps[..end]
                            .iter()
                            .map(|s| s.oracle_quality - s.quality)
                            .sum(),
                        bias: r.steps.get(end.saturating_sub(1)).map_or(0.0, |s| s.bias),
                    }
                })
                .collect();
            Window {
                start,
                end,
                quality: mean(per_seed.iter().map(|x| x.quality)),
                cost_per_request_usd: mean(per_seed.iter().map(|x| x.cost_per_request_usd)),
                strong_share: mean(per_seed.iter().map(|x| x.strong_share)),
                regret: mean(per_seed.iter().map(|x| x.regret)),
                bias: mean(per_seed.iter().map(|x| x.bias)),
            }
        })
        .collect()
}

/// The whole report (`--json` prints it).
#[derive(Debug, Serialize)]
pub struct Report {
    pub data: Vec<String>,
    pub requests: usize,
    pub seeds: Vec<u64>,
    pub order: super::world::Order,
    pub feedback_rate: f64,
    pub feedback_delay: usize,
    pub strong_share_target: Option<f64>,
    pub quality_floor_target: Option<f64>,
    pub budget_usd: Option<f64>,
    pub weak_model: String,
    pub strong_model: String,
    pub references: References,
    pub policies: Vec<PolicyReport>,
}

impl Report {
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.render_setting(&mut out);
        self.render_figures(&mut out);
        self.render_windows(&mut out, "strong share", |w| w.strong_share, true);
        self.render_windows(&mut out, "quality", |w| w.quality, false);
        if let Some(budget) = self.budget_usd {
            self.render_spend(&mut out, budget);
        }
        out
    }

    /// What was simulated: the stream, the references, the targets.
    fn render_setting(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "{} requests, {} order, feedback on {:.0}% (delay {}), seeds {:?}",
            self.requests,
            self.order.as_str(),
            self.feedback_rate * 100.0,
            self.feedback_delay,
            self.seeds
        );
        let _ = writeln!(
            out,
            "weak {} (quality {:.4}), strong {} (quality {:.4}), oracle {:.4}",
            self.weak_model,
            self.references.weak_quality,
            self.strong_model,
            self.references.strong_quality,
            self.references.oracle_quality
        );
        if let Some(t) = self.strong_share_target {
            let _ = writeln!(out, "strong-share target {t} (policies with a threshold)");
        }
        if let Some(q) = self.quality_floor_target {
            let _ = writeln!(out, "quality floor {q} (policies with a threshold)");
        }
        if let Some(b) = self.budget_usd {
            let _ = writeln!(out, "budget ${b} over the stream (one simulated day)");
        }
    }

    /// One row per policy: the whole stream and its last half.
    fn render_figures(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "\n{:<28} {:>8} {:>11} {:>7} {:>7} {:>9} | last half: {:>8} {:>11} {:>7} {:>7}",
            "policy",
            "quality",
            "$/request",
            "strong",
            "PGR",
            "regret",
            "quality",
            "$/request",
            "strong",
            "PGR"
        );
        for p in &self.policies {
            let _ = writeln!(
                out,
                "{:<28} {:>8.4} {:>11.6} {:>7.3} {:>7.3} {:>9.1} | {:>20.4} {:>11.6} {:>7.3} {:>7.3}",
                p.name,
                p.quality,
                p.cost_per_request_usd,
                p.strong_share,
                p.pgr,
                p.regret,
                p.last_half.quality,
                p.last_half.cost_per_request_usd,
                p.last_half.strong_share,
                p.last_half.pgr
            );
        }
    }

    /// One line per policy of `value` by window; `with_error` adds the share target's error.
    fn render_windows(
        &self,
        out: &mut String,
        title: &str,
        value: fn(&Window) -> f64,
        with_error: bool,
    ) {
        let _ = writeln!(out, "\n{title} by window:");
        for p in &self.policies {
            let values: Vec<String> = p
                .windows
                .iter()
                .map(|w| format!("{:.2}", value(w)))
                .collect();
            let _ = write!(out, "{:<28} {}", p.name, values.join(" "));
            if let (true, Some(e)) = (with_error, p.max_window_share_error) {
                let _ = write!(out, "  (max error after warm-up {e:.3})");
            }
            let _ = writeln!(out);
        }
    }

    fn render_spend(&self, out: &mut String, budget: f64) {
        let _ = writeln!(out, "\nspend against the budget:");
        for p in &self.policies {
            let _ = writeln!(
                out,
                "{:<28} ${:.4} ({:+.1}%){}, {} failed",
                p.name,
                p.spend_usd,
                (p.spend_usd / budget - 1.0) * 100.0,
                if p.controlled {
                    ""
                } else {
                    " not paced (no threshold)"
                },
                p.failed
            );
        }
    }
}
