//! Prints the signals of every prompt of a JSONL stream, one JSON object per line, for analyses
//! outside Rust (`scripts/transfer/experiments.py`): reads objects with a `prompt` string on
//! stdin, writes `Signals` as routewise computes them for a one-message request.
//!
//! `cargo run --release -p routewise-core --example signals_jsonl < prompts.jsonl > signals.jsonl`
#![expect(
    clippy::expect_used,
    reason = "an example: a malformed line stops it with a message"
)]

use routewise_core::request::{ChatInput, RequestContext};
use routewise_core::signals::SignalExtractor;
use std::io::{BufRead, Write};

fn main() {
    let extractor = SignalExtractor::new().expect("the lexicon compiles");
    let context = RequestContext::default();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for (index, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.expect("stdin is readable");
        let value: serde_json::Value =
            serde_json::from_str(&line).expect("each line is a JSON object");
        let Some(prompt) = value["prompt"].as_str() else {
            eprintln!("line {} has no `prompt` string", index + 1);
            std::process::exit(1);
        };
        let signals = extractor.extract(&ChatInput::from_prompt(prompt), &context);
        let json = serde_json::to_string(&signals).expect("signals serialise");
        writeln!(out, "{json}").expect("stdout is writable");
    }
}
