//! Counting outcomes, a table row per sample, and the verdict.

use crate::mib;
use crate::outcome::Outcome;
use crate::process::Held;
use std::collections::BTreeMap;
use std::time::Duration;

/// Outcomes counted by class, and the latencies of the answered requests.
#[derive(Debug, Default)]
pub struct Tally {
    counts: BTreeMap<Outcome, u64>,
    latencies: Vec<Duration>,
}

impl Tally {
    pub fn add(&mut self, outcome: Outcome, latency: Option<Duration>) {
        *self.counts.entry(outcome).or_default() += 1;
        self.latencies.extend(latency);
    }

    fn merge(&mut self, other: Tally) {
        for (outcome, count) in other.counts {
            *self.counts.entry(outcome).or_default() += count;
        }
        self.latencies.extend(other.latencies);
    }

    fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    fn count(&self, pick: impl Fn(&Outcome) -> bool) -> u64 {
        self.counts
            .iter()
            .filter(|(outcome, _)| pick(outcome))
            .map(|(_, count)| count)
            .sum()
    }

    fn unclean(&self) -> u64 {
        self.count(|o| matches!(o, Outcome::Unclean(_)))
    }

    /// The `q` quantile of the answered latencies, in milliseconds.
    fn quantile_ms(&mut self, q: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        self.latencies.sort_unstable();
        let rank = ((self.latencies.len() - 1) as f64 * q).round() as usize;
        self.latencies[rank].as_secs_f64() * 1000.0
    }

    pub fn summary(&self) -> String {
        self.counts
            .iter()
            .map(|(outcome, count)| format!("{count} {}", outcome.label()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One table row: what a sample window saw and what the server held at its end.
#[derive(Debug)]
struct Row {
    held: Option<Held>,
    after_warmup: bool,
}

/// Everything the run saw, and its verdict.
#[derive(Debug)]
pub struct Report {
    baseline: Held,
    rss_band: f64,
    total: Tally,
    rows: Vec<Row>,
    burst_ok: Option<bool>,
    settled: Option<(Option<Held>, Duration)>,
    failures: Vec<String>,
}

impl Report {
    pub fn new(baseline: Held, rss_band: f64) -> Self {
        Self {
            baseline,
            rss_band,
            total: Tally::default(),
            rows: Vec::new(),
            burst_ok: None,
            settled: None,
            failures: Vec::new(),
        }
    }

    pub fn baseline(&self) -> Held {
        self.baseline
    }

    pub fn fail(&mut self, why: String) {
        self.failures.push(why);
    }

    pub fn burst(&mut self, tally: Tally, open: Option<Held>, after: Option<Held>) {
        let all_cut = tally.unclean() == 0;
        let fds_back = after.is_some_and(|h| h.fds <= self.baseline.fds);
        if !all_cut {
            self.fail(format!("slow burst: {}", tally.summary()));
        }
        if !fds_back {
            self.fail(format!(
                "slow burst: {} fds after it, {} before",
                after.map_or(0, |h| h.fds),
                self.baseline.fds
            ));
        }
        if open.is_none() || after.is_none() {
            self.fail("the server process went away during the slow burst".to_owned());
        }
        self.burst_ok = Some(all_cut && fds_back);
    }

    pub fn print_header() {
        println!(
            "| minute | requests | answered | clean failures | slow cut off | unclean | p50 ms | p99 ms | RSS MB | fds |"
        );
        println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    }

    pub fn row(
        &mut self,
        elapsed: Duration,
        mut window: Tally,
        held: Option<Held>,
        after_warmup: bool,
    ) {
        println!(
            "| {:.1} | {} | {} | {} | {} | {} | {:.2} | {:.2} | {} | {} |",
            elapsed.as_secs_f64() / 60.0,
            window.total(),
            window.count(|o| *o == Outcome::Answered),
            window.count(|o| matches!(o, Outcome::CleanFailure(_))),
            window.count(|o| *o == Outcome::SlowCutOff),
            window.unclean(),
            window.quantile_ms(0.5),
            window.quantile_ms(0.99),
            held.map_or("gone".to_owned(), |h| format!("{:.1}", mib(h.rss_kib))),
            held.map_or("gone".to_owned(), |h| h.fds.to_string()),
        );
        self.total.merge(window);
        self.rows.push(Row { held, after_warmup });
    }

    pub fn settled(&mut self, last: Option<Held>, waited: Duration) {
        self.settled = Some((last, waited));
    }

    /// RSS at the end of warm-up, and the lowest and highest after it.
    fn rss_after_warmup(&self) -> Option<(u64, u64, u64)> {
        let mut after = self
            .rows
            .iter()
            .filter(|r| r.after_warmup)
            .filter_map(|r| r.held.map(|h| h.rss_kib));
        let first = after.next()?;
        let (low, high) = after.fold((first, first), |(lo, hi), rss| (lo.min(rss), hi.max(rss)));
        Some((first, low, high))
    }

    fn verdict(&self) -> Vec<String> {
        let mut failures = self.failures.clone();
        let unclean = self.total.unclean();
        if unclean > 0 {
            failures.push(format!("{unclean} requests ended uncleanly"));
        }
        if self.rows.iter().any(|r| r.held.is_none()) {
            failures.push("the server process went away".to_owned());
        }
        match self.rss_after_warmup() {
            Some((start, low, high)) => {
                let band = start as f64 * self.rss_band / 100.0;
                if (high as f64) > start as f64 + band || (low as f64) < start as f64 - band {
                    failures.push(format!(
                        "RSS left the ±{}% band after warm-up: {:.1} MB then {:.1}..{:.1} MB",
                        self.rss_band,
                        mib(start),
                        mib(low),
                        mib(high)
                    ));
                }
            }
            None => failures.push("no sample after warm-up: run longer than --warmup".to_owned()),
        }
        match self.settled {
            Some((Some(last), _)) if last.fds <= self.baseline.fds => {}
            Some((last, waited)) => failures.push(format!(
                "file descriptors not back to the baseline {} after {:.0}s: {}",
                self.baseline.fds,
                waited.as_secs_f64(),
                last.map_or("process gone".to_owned(), |h| h.fds.to_string())
            )),
            None => failures.push("the run did not settle".to_owned()),
        }
        failures
    }

    pub fn passed(&self) -> bool {
        self.verdict().is_empty()
    }

    pub fn print(&self) {
        println!();
        println!(
            "totals: {} requests: {}",
            self.total.total(),
            self.total.summary()
        );
        if let Some((start, low, high)) = self.rss_after_warmup() {
            println!(
                "RSS after warm-up: {:.1} MB, then between {:.1} and {:.1} MB ({:+.1}% .. {:+.1}%)",
                mib(start),
                mib(low),
                mib(high),
                percent(low, start),
                percent(high, start)
            );
        }
        if let Some((last, waited)) = self.settled {
            println!(
                "file descriptors: {} at the start, {} {:.0}s after the load stopped",
                self.baseline.fds,
                last.map_or("gone".to_owned(), |h| h.fds.to_string()),
                waited.as_secs_f64()
            );
        }
        if let Some(ok) = self.burst_ok {
            println!(
                "slow burst: {}",
                if ok {
                    "all cut off, fds back"
                } else {
                    "FAILED"
                }
            );
        }
        let verdict = self.verdict();
        if verdict.is_empty() {
            println!("PASS: every request answered or cleanly failed, RSS flat, fds back");
        } else {
            for failure in verdict {
                println!("FAIL: {failure}");
            }
        }
    }
}

fn percent(value: u64, of: u64) -> f64 {
    (value as f64 - of as f64) / of.max(1) as f64 * 100.0
}
