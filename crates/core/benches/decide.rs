//! Decision latency: one routing decision, tokenisation included, for a ~300-token prompt, and
//! for the same prompt at the end of a conversation with a long system prompt; and token
//! counting over real prompts of three bundled benchmarks, whose words do not repeat the way the
//! 300-token prompt's do.
#![expect(
    clippy::expect_used,
    reason = "a benchmark with a broken setup should abort loudly"
)]

use criterion::{Criterion, criterion_group, criterion_main};
use routewise_core::catalog::{Capability, Catalog, ModelSpec};
use routewise_core::policy::{ComplexityPolicy, DefaultPolicy, RulesPolicy};
use routewise_core::router::RouterOptions;
use routewise_core::{ChatInput, Message, RequestContext, Role, Router};
use std::hint::black_box;
use std::sync::Arc;

fn catalog() -> Arc<Catalog> {
    let model = |name: &str, tier: usize, price: f64| ModelSpec {
        name: name.into(),
        provider: "openai".into(),
        upstream_model: name.into(),
        tier,
        input_usd_per_mtok: price,
        output_usd_per_mtok: price * 4.0,
        context_window: 128_000,
        capabilities: vec![Capability::Code, Capability::Vision],
    };
    let catalog = Catalog::new(
        vec!["small".into(), "large".into()],
        vec![model("gpt-4o-mini", 0, 0.15), model("gpt-4o", 1, 2.5)],
    );
    Arc::new(catalog.expect("benchmark catalog is valid"))
}

/// About 300 o200k tokens of ordinary English with a question at the end.
fn prompt() -> String {
    let context = "Our team runs a service that ingests sensor readings from ten thousand devices, \
        stores them in a time-series database and raises alerts when a reading drifts from its \
        baseline. Last week the alerting job started to lag behind by several minutes. ";
    format!(
        "{}Could you suggest what to look at first, and in which order we should check things?",
        context.repeat(6)
    )
}

fn chat(messages: impl IntoIterator<Item = (Role, String)>) -> ChatInput {
    ChatInput {
        messages: messages
            .into_iter()
            .map(|(role, text)| Message::text(role, text))
            .collect(),
        ..ChatInput::default()
    }
}

/// A system prompt of about 1,500 o200k tokens, two earlier turns and the ~300-token prompt.
fn conversation() -> ChatInput {
    let system = "You are the support assistant of a company that runs a monitoring service. \
        Answer in plain English, cite the runbook section you rely on, and never invent a \
        command that the runbook does not list. "
        .repeat(45);
    let messages = [
        (Role::System, system),
        (
            Role::User,
            "Our alerting job lags behind by several minutes.".to_owned(),
        ),
        (
            Role::Assistant,
            "Which version of the ingest service do you run, and since when has it lagged?"
                .to_owned(),
        ),
        (Role::User, prompt()),
    ];
    chat(messages)
}

/// A second question about a report of about 1,400 tokens pasted in the first turn.
fn follow_up() -> ChatInput {
    let report = "Incident report: the ingest service fell behind after the upgrade; we compared \
        the queue depth with last week's, analysed the alert timings and found that the \
        database's write latency doubled. Why it doubled is not yet known. "
        .repeat(25);
    let messages = [
        (
            Role::User,
            format!("Here is our report:\n{report}\nWhat stands out?"),
        ),
        (
            Role::Assistant,
            "The write latency: it doubled right after the upgrade.".to_owned(),
        ),
        (Role::User, prompt()),
    ];
    chat(messages)
}

fn bench_decisions(c: &mut Criterion) {
    let catalog = catalog();
    let input = ChatInput::from_prompt(prompt());
    let context = RequestContext::default();
    let routers = [
        (
            "rules",
            Arc::new(RulesPolicy::default_rules(&catalog)) as Arc<_>,
        ),
        (
            "complexity",
            Arc::new(ComplexityPolicy::default_for_tiers(2)) as Arc<_>,
        ),
        (
            "default",
            Arc::new(DefaultPolicy::new(
                &catalog,
                ComplexityPolicy::default_for_tiers(2),
            )) as Arc<_>,
        ),
    ];
    for (name, policy) in routers {
        let router = Router::new(catalog.clone(), policy, RouterOptions::default())
            .expect("router setup succeeds");
        if let Ok(decision) = router.decide(&input, &context) {
            eprintln!(
                "{name}: {} prompt tokens -> {}",
                decision.signals.prompt_tokens, decision.model
            );
        }
        c.bench_function(&format!("decide/{name}/300-tokens"), |b| {
            b.iter(|| router.decide(black_box(&input), black_box(&context)))
        });
    }
    // The same decision in the middle of a conversation: a long system prompt and two earlier
    // turns, all sent before, then the new question.
    let conversation = conversation();
    let rules = Router::new(
        catalog.clone(),
        Arc::new(RulesPolicy::default_rules(&catalog)),
        RouterOptions::default(),
    )
    .expect("router setup succeeds");
    c.bench_function("decide/rules/conversation-2300-tokens", |b| {
        b.iter(|| rules.decide(black_box(&conversation), black_box(&context)))
    });
    let follow_up = follow_up();
    c.bench_function("decide/rules/follow-up-to-a-pasted-report", |b| {
        b.iter(|| rules.decide(black_box(&follow_up), black_box(&context)))
    });
    let extractor = routewise_core::SignalExtractor::new().expect("lexicon compiles");
    c.bench_function("signals/extract/300-tokens", |b| {
        b.iter(|| extractor.extract(black_box(&input), black_box(&context)))
    });
    let counter = routewise_core::tokens::TokenCounter::o200k();
    let text = prompt();
    c.bench_function("tokens/o200k/300-tokens", |b| {
        b.iter(|| counter.count(black_box(&text)))
    });
    // The regex-based reference implementation, for the speed-up ratio in the same run.
    let reference = bpe_openai::o200k_base();
    c.bench_function("tokens/bpe-openai-reference/300-tokens", |b| {
        b.iter(|| reference.count(black_box(text.as_str())))
    });
    let prompts = benchmark_prompts();
    let mut group = c.benchmark_group("tokens/o200k");
    group.sample_size(20);
    group.bench_function("1500-benchmark-prompts", |b| {
        b.iter(|| {
            prompts
                .iter()
                .map(|p| u64::from(counter.count(black_box(p))))
                .sum::<u64>()
        })
    });
    group.finish();
}

/// The first 500 prompts of each of three bundled benchmarks (MMLU's few-shot questions,
/// LLMRouter's mixed tasks, RouterBench's ARC, MBPP and Winogrande items).
fn benchmark_prompts() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/benchmarks");
    let mut prompts = Vec::new();
    for file in [
        "routellm_mmlu_part1.jsonl.gz",
        "llmrouter_dc_9models_part1.jsonl.gz",
        "routerbench_subset_arc_mbpp_winogrande_part1.jsonl.gz",
    ] {
        let gz = std::fs::File::open(dir.join(file)).expect("bundled benchmark data is present");
        let text = std::io::read_to_string(flate2::read::GzDecoder::new(gz))
            .expect("bundled benchmark data is gzip");
        prompts.extend(text.lines().take(500).map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).expect("a JSON record");
            record["prompt"].as_str().expect("a prompt").to_owned()
        }));
    }
    prompts
}

criterion_group!(benches, bench_decisions);
criterion_main!(benches);
