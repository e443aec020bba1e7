//! Off-policy evaluation of a candidate policy on logged, rated traffic (`routewise replay`):
//! inverse propensity scoring (IPS), its self-normalised form (SNIPS) and the doubly robust
//! estimate (DR), each with a normal interval, plus what cannot be identified from the logs.
//!
//! For a rated request i the log holds the served model `a_i`, its logging propensity `p_i`
//! and the score `r_i`; the candidate, replayed on the same request, chooses `c_i`. With the
//! candidate's choice as a one-hot draw (an unbiased sample of its propensity even when it is
//! stochastic), `w_i = 1[c_i = a_i] / p_i` and
//!
//! - IPS  = mean(w_i r_i)
//! - SNIPS = sum(w_i r_i) / sum(w_i)
//! - DR   = mean(q(x_i, c_i) + w_i (r_i - q(x_i, a_i)))
//!
//! where `q` is a direct model of a model's score (here: its mean score on rated requests of
//! the same task type, shrunk towards its overall mean). When the logging policy was
//! deterministic (`p_i = 1`) and the candidate disagrees, the candidate's choice was never
//! served there: IPS cannot see those requests at all and DR has only the direct model for
//! them. The estimate says so rather than guessing.

use super::stats::{Interval, Moments, z_of};
use serde::Serialize;
use std::collections::HashMap;

/// Weight of the overall mean in a task's shrunk mean, in ratings.
const SHRINK: f64 = 10.0;

/// One rated, replayed request.
#[derive(Debug, Clone, PartialEq)]
pub struct Logged {
    pub served: String,
    pub propensity: f64,
    pub score: f64,
    /// The candidate's choice for the same request.
    pub candidate: String,
    /// The stratum the direct model groups by (the task type).
    pub stratum: String,
    /// Whether the logging could have served the candidate's choice: false where a
    /// deterministic policy decided and no control share could have forced that model.
    pub candidate_supported: bool,
}

/// A direct model: each model's mean score by stratum, shrunk towards its overall mean.
#[derive(Debug, Clone, Default)]
pub struct DirectModel {
    overall: HashMap<String, Moments>,
    by_stratum: HashMap<(String, String), Moments>,
    prior: Moments,
}

impl DirectModel {
    pub fn fit(logged: &[Logged]) -> Self {
        let mut model = DirectModel::default();
        for l in logged {
            model.prior.add(l.score);
            model
                .overall
                .entry(l.served.clone())
                .or_default()
                .add(l.score);
            model
                .by_stratum
                .entry((l.served.clone(), l.stratum.clone()))
                .or_default()
                .add(l.score);
        }
        model
    }

    /// The predicted score of `model` on a request of `stratum`; a model never rated gets
    /// the mean of every rating, and is reported as unsupported.
    pub fn predict(&self, model: &str, stratum: &str) -> f64 {
        let Some(overall) = self.overall.get(model) else {
            return self.prior.mean;
        };
        match self.by_stratum.get(&(model.to_owned(), stratum.to_owned())) {
            Some(s) => (s.mean * s.n as f64 + overall.mean * SHRINK) / (s.n as f64 + SHRINK),
            None => overall.mean,
        }
    }

    pub fn knows(&self, model: &str) -> bool {
        self.overall.contains_key(model)
    }
}

/// The estimates of a candidate's mean score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimates {
    pub rated: u64,
    /// Share of rated requests where the candidate chose what was served.
    pub agreement: f64,
    /// Rated requests where the candidate chose a model that the logging could not have
    /// served (a deterministic policy decided, and no control share forces that model): no
    /// outcome of that choice is logged.
    pub unsupported: u64,
    pub ips: Option<Interval>,
    pub snips: Option<f64>,
    pub doubly_robust: Option<Interval>,
    /// The direct model alone (what DR falls back on where the logs are silent).
    pub direct: Option<Interval>,
    /// Sentences on what is and is not identifiable.
    pub notes: Vec<String>,
}

pub fn estimate(logged: &[Logged], confidence: f64) -> Estimates {
    let model = DirectModel::fit(logged);
    let (mut ips, mut dr, mut direct) =
        (Moments::default(), Moments::default(), Moments::default());
    let (mut weighted, mut weights) = (0.0, 0.0);
    let (mut agree, mut unsupported, mut unknown_model) = (0u64, 0u64, 0u64);
    for l in logged {
        let same = l.candidate == l.served;
        let p = l.propensity.clamp(1e-6, 1.0);
        let w = if same { 1.0 / p } else { 0.0 };
        agree += u64::from(same);
        if !same && !l.candidate_supported {
            unsupported += 1;
        }
        if !model.knows(&l.candidate) {
            unknown_model += 1;
        }
        ips.add(w * l.score);
        weighted += w * l.score;
        weights += w;
        let q_candidate = model.predict(&l.candidate, &l.stratum);
        let q_served = model.predict(&l.served, &l.stratum);
        dr.add(q_candidate + w * (l.score - q_served));
        direct.add(q_candidate);
    }
    let n = logged.len() as u64;
    let interval = |m: &Moments| {
        (m.n > 1).then(|| Interval::around(m.mean, m.mean_variance().sqrt() * z_of(confidence)))
    };
    let mut notes = Vec::new();
    let identifiable = unsupported == 0;
    if n == 0 {
        notes.push("no rated request could be replayed: nothing to estimate".to_owned());
    } else if !identifiable {
        let all_deterministic = logged.iter().all(|l| l.propensity >= 1.0 - 1e-9);
        notes.push(format!(
            "IPS is not identifiable: on {unsupported} of {n} rated requests ({:.1}%) the candidate chooses a model the logging could not have served there (a deterministic policy decided); {}",
            100.0 * unsupported as f64 / n as f64,
            if all_deterministic {
                "every logged propensity is 1 (deterministic logging): add a control_share or an exploring policy to log with support"
            } else {
                "add an exploring policy (or a control share, which covers the strongest tier only) to log with support"
            }
        ));
        notes.push(format!(
            "the doubly robust estimate rests on the direct model alone for those {unsupported} requests: it is as good as the direct model there"
        ));
    }
    if unknown_model > 0 {
        notes.push(format!(
            "on {unknown_model} rated requests the candidate chooses a model with no rating at all: the direct model gives it the mean of every rating"
        ));
    }
    Estimates {
        rated: n,
        agreement: if n == 0 { 0.0 } else { agree as f64 / n as f64 },
        unsupported,
        ips: interval(&ips).filter(|_| identifiable),
        snips: (weights > 0.0 && identifiable).then(|| weighted / weights),
        doubly_robust: interval(&dr),
        direct: interval(&direct),
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// A world of two models and two strata; the strong model scores 0.9, the weak 0.8 on
    /// easy and 0.4 on hard requests. Logging serves the strong model with `p_strong` on each
    /// stratum; the candidate serves weak on easy, strong on hard.
    fn world(p_strong_easy: f64, p_strong_hard: f64, n: usize, seed: u64) -> (Vec<Logged>, f64) {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut logged = Vec::new();
        for i in 0..n {
            let hard = i % 2 == 1;
            let p_strong = if hard { p_strong_hard } else { p_strong_easy };
            let strong = rng.random::<f64>() < p_strong;
            let mean = match (strong, hard) {
                (true, _) => 0.9,
                (false, false) => 0.8,
                (false, true) => 0.4,
            };
            let score = if rng.random::<f64>() < mean { 1.0 } else { 0.0 };
            logged.push(Logged {
                served: if strong { "strong" } else { "weak" }.into(),
                propensity: if strong { p_strong } else { 1.0 - p_strong },
                score,
                candidate: if hard { "strong" } else { "weak" }.into(),
                stratum: if hard { "hard" } else { "easy" }.into(),
                candidate_supported: p_strong > 0.0 && p_strong < 1.0,
            });
        }
        // The candidate's true mean: weak on easy (0.8), strong on hard (0.9).
        (logged, 0.85)
    }

    #[test]
    fn estimates_cover_the_truth_under_random_logging() {
        let mut covered = 0;
        for seed in 0..20 {
            let (logged, truth) = world(0.5, 0.3, 2000, seed);
            let e = estimate(&logged, 0.95);
            assert_eq!(e.unsupported, 0);
            covered += u32::from(e.doubly_robust.is_some_and(|i| i.contains(truth)));
            assert!(
                e.ips.is_some_and(|i| (i.estimate - truth).abs() < 0.08),
                "{e:?}"
            );
        }
        // 95% intervals: at least 16 of 20 (a binomial tail of under 2%).
        assert!(covered >= 16, "covered {covered} of 20");
    }

    #[test]
    fn deterministic_logging_is_called_unidentifiable() {
        let (logged, _) = world(1.0, 1.0, 200, 1);
        let e = estimate(&logged, 0.95);
        assert_eq!(e.unsupported, 100, "the easy half");
        assert!(e.ips.is_none() && e.snips.is_none());
        assert!(e.notes[0].contains("not identifiable") && e.notes[0].contains("deterministic"));
        assert!(e.doubly_robust.is_some(), "DR reports, with its caveat");
    }

    #[test]
    fn nothing_rated_says_so() {
        let e = estimate(&[], 0.95);
        assert_eq!(e.rated, 0);
        assert!(e.ips.is_none() && e.doubly_robust.is_none());
        assert!(e.notes[0].contains("nothing to estimate"));
    }
}
