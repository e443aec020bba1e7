//! Measures the two-model evaluation on 10k prompts: building the deferral curve (one sort plus
//! prefix sums) and reading a 100-threshold sweep, APGR and CPTs off it.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rand::{Rng, SeedableRng, rngs::StdRng};
use routewise_learn::eval::{DeferralCurve, PairOutcome};

const PROMPTS: usize = 10_000;
const THRESHOLDS: usize = 100;

fn data() -> (Vec<f64>, Vec<PairOutcome>) {
    let mut rng = StdRng::seed_from_u64(7);
    let outcomes = (0..PROMPTS)
        .map(|_| PairOutcome {
            weak_quality: f64::from(u8::from(rng.random_bool(0.68))),
            strong_quality: f64::from(u8::from(rng.random_bool(0.81))),
            weak_cost: 0.0003,
            strong_cost: 0.006,
        })
        .collect();
    let scores = (0..PROMPTS).map(|_| rng.random::<f64>()).collect();
    (scores, outcomes)
}

fn bench_sweep(c: &mut Criterion) {
    let (scores, outcomes) = data();
    c.bench_function("eval 10k prompts x 100 thresholds", |b| {
        b.iter(|| {
            let curve = DeferralCurve::new(black_box(&scores), black_box(&outcomes))?;
            let sweep = curve.sweep(THRESHOLDS);
            let apgr = curve.apgr()?;
            let cpts = [curve.cpt(0.5)?, curve.cpt(0.8)?, curve.cpt(0.95)?];
            Ok::<_, routewise_learn::eval::EvalError>((sweep, apgr, cpts, curve.savings_at(0.95)))
        })
    });
}

criterion_group!(benches, bench_sweep);
criterion_main!(benches);
