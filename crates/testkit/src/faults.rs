//! A steady fault mix for long runs (the soak): a share of the calls that have no scripted reply
//! fail with a 500, and a share are cut off mid-answer.
//!
//! The mix is deterministic: call `n` draws from a hash of `n`, so two runs inject the same faults,
//! and the faults fall with no period that a client's own pattern (every other request streamed,
//! every hundredth a slow client) could line up with and dodge.

use crate::reply::Reply;
use std::time::Duration;

/// Which share of calls fail, and how.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FaultMix {
    /// Share of calls answered with HTTP 500 (0 to 1).
    pub server_errors: f64,
    /// Share of calls cut off after a few chunks: a streamed call alternately ends without a
    /// finish (truncated) or has its connection dropped; a non-streamed one is dropped mid-body.
    pub cuts: f64,
}

/// A fault-mix spec that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultMixError(pub String);

impl std::fmt::Display for FaultMixError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FaultMixError {}

impl FaultMix {
    /// Parses `5xx=5%,cut=1%` (shares as percentages or fractions: `cut=0.01`).
    pub fn parse(spec: &str) -> Result<Self, FaultMixError> {
        let mut mix = Self::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part.split_once('=').ok_or_else(|| {
                FaultMixError(format!("`{part}` is not NAME=SHARE (for example 5xx=5%)"))
            })?;
            let share = parse_share(value.trim()).ok_or_else(|| {
                FaultMixError(format!("`{value}` is not a share between 0 and 100%"))
            })?;
            match name.trim() {
                "5xx" => mix.server_errors = share,
                "cut" => mix.cuts = share,
                other => {
                    return Err(FaultMixError(format!(
                        "unknown fault `{other}`: the mix knows 5xx and cut"
                    )));
                }
            }
        }
        if mix.server_errors + mix.cuts > 1.0 {
            return Err(FaultMixError(
                "the shares add up to more than 100%".to_owned(),
            ));
        }
        Ok(mix)
    }

    /// The fault for call number `n` (counted from 0), if it gets one.
    pub fn fault_for(&self, n: u64, streamed: bool) -> Option<Reply> {
        let draw = unit_draw(n);
        if draw < self.server_errors {
            return Some(Reply::status(500));
        }
        if draw < self.server_errors + self.cuts {
            // Paced, so the client sees the chunks before the cut rather than the drop first.
            let pace = Duration::from_millis(2);
            let truncated = streamed && mix(n ^ 0x5eed) & 1 == 0;
            let reply = if truncated {
                Reply::truncated(2)
            } else {
                Reply::drop_connection(if streamed { 2 } else { 0 })
            };
            return Some(reply.chunk_every(pace));
        }
        None
    }
}

fn parse_share(value: &str) -> Option<f64> {
    let share = match value.strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().ok()? / 100.0,
        None => value.parse::<f64>().ok()?,
    };
    (0.0..=1.0).contains(&share).then_some(share)
}

/// A uniform draw in [0, 1) from `n`.
fn unit_draw(n: u64) -> f64 {
    // The top 53 bits fill an f64's mantissa exactly.
    (mix(n) >> 11) as f64 / (1u64 << 53) as f64
}

/// SplitMix64's finaliser: a cheap, well-spread hash of a counter (hand-written: four lines,
/// and a fault mix should not depend on a random-number crate's stream staying the same).
fn mix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::ReplyKind;

    #[test]
    fn a_spec_parses_percentages_and_fractions() {
        let mix = FaultMix::parse("5xx=5%, cut=0.01").unwrap_or_default();
        assert_eq!(
            mix,
            FaultMix {
                server_errors: 0.05,
                cuts: 0.01
            }
        );
        for bad in [
            "5xx",
            "5xx=120%",
            "slow=1%",
            "5xx=-1%",
            "5xx=60%,cut=60%",
            "cut=x",
        ] {
            assert!(FaultMix::parse(bad).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn every_window_gets_its_share() {
        let mix = FaultMix {
            server_errors: 0.05,
            cuts: 0.01,
        };
        let faults: Vec<Option<Reply>> = (0..10_000).map(|n| mix.fault_for(n, true)).collect();
        let errors = faults
            .iter()
            .filter(|f| f.as_ref().is_some_and(|r| *r == Reply::status(500)))
            .count();
        let cuts = faults.iter().flatten().count() - errors;
        // Binomial: 500 ± 22 and 100 ± 10 (one standard deviation); four of them apart.
        assert!((410..=590).contains(&errors), "{errors} errors");
        assert!((60..=140).contains(&cuts), "{cuts} cuts");
    }

    #[test]
    fn faults_do_not_line_up_with_a_periodic_client() {
        // Every other call streamed: cuts must land on both kinds.
        let mix = FaultMix {
            server_errors: 0.0,
            cuts: 0.05,
        };
        let cut = |parity: u64| {
            (0..10_000u64)
                .filter(|n| n % 2 == parity && mix.fault_for(*n, true).is_some())
                .count()
        };
        assert!(cut(0) > 150 && cut(1) > 150, "{} and {}", cut(0), cut(1));
    }

    #[test]
    fn a_streamed_cut_is_either_kind() {
        let mix = FaultMix {
            server_errors: 0.0,
            cuts: 1.0,
        };
        let kinds: Vec<ReplyKind> = (0..100)
            .filter_map(|n| mix.fault_for(n, true))
            .map(|r| r.kind)
            .collect();
        assert!(
            kinds
                .iter()
                .any(|k| matches!(k, ReplyKind::Truncate { .. }))
        );
        assert!(kinds.iter().any(|k| matches!(k, ReplyKind::Drop { .. })));
        let unstreamed = mix.fault_for(0, false).map(|r| r.kind);
        assert_eq!(unstreamed, Some(ReplyKind::Drop { after_chunks: 0 }));
    }
}
