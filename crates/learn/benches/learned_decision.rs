//! Learned-router latency: one decision (few-shot stripping, tokenisation, TF-IDF, query
//! features, every head, calibration) for a ~300-token prompt, with a model trained on the
//! bundled MMLU data; and training time on MMLU's 14k prompts.
#![expect(
    clippy::expect_used,
    reason = "a benchmark with a broken setup should abort loudly"
)]

use criterion::{Criterion, criterion_group, criterion_main};
use flate2::read::GzDecoder;
use routewise_core::learn::LearnedModel;
use routewise_learn::bench::{BenchmarkRecord, parse_line};
use routewise_learn::training::{TrainConfig, fit_records};
use std::hint::black_box;
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

const MODELS: [&str; 2] = ["mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview"];

fn mmlu() -> Vec<BenchmarkRecord> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/benchmarks");
    let mut records = Vec::new();
    for part in 1..=3 {
        let path = dir.join(format!("routellm_mmlu_part{part}.jsonl.gz"));
        let mut text = String::new();
        GzDecoder::new(std::fs::File::open(&path).expect("bundled MMLU data is present"))
            .read_to_string(&mut text)
            .expect("bundled MMLU data is gzip");
        records.extend(text.lines().map(|l| parse_line(l).expect("valid record")));
    }
    records
}

fn fit(records: &[BenchmarkRecord]) -> LearnedModel {
    let refs: Vec<&BenchmarkRecord> = records.iter().collect();
    let models: Vec<String> = MODELS.iter().map(|m| (*m).to_owned()).collect();
    fit_records(
        &TrainConfig::default(),
        &refs,
        &models,
        &[0.6, 10.0],
        1,
        &mut |_| {},
    )
    .expect("training succeeds")
}

/// A ~300-token request: a passage and a multiple-choice question.
fn prompt() -> String {
    let passage = "The committee reviewed the quarterly report on regional water usage, noting \
        that agricultural demand rose sharply during the dry season while municipal demand \
        remained stable. Several members argued that the pricing model should reflect scarcity, \
        and others worried about the effect on small farms. ";
    format!(
        "{}\nWhich of the following best explains why the committee could not agree?\n\
         A. The data on municipal demand was incomplete.\nB. Members weighed efficiency against \
         fairness differently.\nC. The dry season ended early.\nD. Prices had already been set.\nAnswer:",
        passage.repeat(4)
    )
}

fn benches(c: &mut Criterion) {
    let records = mmlu();
    let model = fit(&records);
    let prompt = prompt();
    c.bench_function("learned decision, ~300-token prompt (MMLU model)", |b| {
        b.iter(|| model.decide(black_box(&prompt), black_box(0.8)))
    });
    let mut group = c.benchmark_group("learned training");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(60));
    group.bench_function("train on MMLU (14k prompts, 3 calibration folds)", |b| {
        b.iter(|| fit(black_box(&records)))
    });
    group.finish();
}

criterion_group!(learned, benches);
criterion_main!(learned);
