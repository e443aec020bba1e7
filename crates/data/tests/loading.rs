//! Reading benchmark files from disk: plain and gzip, the bundled data, and errors that point at
//! the file and line to fix.

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::{Compression, write::GzEncoder};
use routewise_data::{
    DataError, PriceCatalog, load_benchmarks, read_benchmark_file, read_text_file,
};

const GOOD: &str = r#"{"id": "a/1", "benchmark": "b", "category": "c", "prompt": "p", "scores": {"m": 1.0}}
{"id": "a/2", "benchmark": "b", "category": "c", "prompt": "q", "scores": {"m": 0.0}, "meta": {"k": 1}}
"#;

#[expect(
    clippy::unwrap_used,
    reason = "test fixture: a failed write fails the test"
)]
fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[expect(
    clippy::unwrap_used,
    reason = "test fixture: a failed encode fails the test"
)]
fn gzip(text: &str) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(text.as_bytes()).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn reads_plain_and_gzip_alike() {
    let dir = tempfile::tempdir().unwrap();
    let plain = write(dir.path(), "plain.jsonl", GOOD.as_bytes());
    let packed = write(dir.path(), "packed.jsonl.gz", &gzip(GOOD));
    assert_eq!(
        read_benchmark_file(&plain).unwrap(),
        read_benchmark_file(&packed).unwrap()
    );
    assert_eq!(read_benchmark_file(&plain).unwrap().len(), 2);
}

#[test]
fn reads_whole_text_files_plain_and_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let plain = write(dir.path(), "model.json", b"{\"a\": 1}");
    let packed = write(dir.path(), "model.json.gz", &gzip("{\"a\": 1}"));
    assert_eq!(read_text_file(&plain).unwrap(), "{\"a\": 1}");
    assert_eq!(read_text_file(&packed).unwrap(), "{\"a\": 1}");
    assert!(matches!(
        read_text_file(&dir.path().join("none")),
        Err(DataError::Io { .. })
    ));
}

#[test]
fn a_bad_line_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("{GOOD}\n{{\"id\": \"a/3\", \"prompt\": \"no scores\"}}\n");
    let path = write(dir.path(), "bad.jsonl.gz", &gzip(&text));
    let err = read_benchmark_file(&path).unwrap_err();
    assert!(matches!(err, DataError::BadLine { line: 4, .. }), "{err:?}");
    assert!(err.to_string().contains("bad.jsonl.gz:4: "), "{err}");
}

#[test]
fn duplicate_ids_across_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let one = write(dir.path(), "one.jsonl", GOOD.as_bytes());
    let two = write(dir.path(), "two.jsonl", GOOD.as_bytes());
    let err = load_benchmarks(&[one, two]).unwrap_err();
    assert!(
        matches!(err, DataError::DuplicateId { line: 1, .. }),
        "{err:?}"
    );
}

#[test]
fn empty_and_missing_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let empty = write(dir.path(), "empty.jsonl", b"\n\n");
    assert!(matches!(
        read_benchmark_file(&empty),
        Err(DataError::NoRecords { .. })
    ));
    let missing = dir.path().join("missing.jsonl");
    assert!(matches!(
        read_benchmark_file(&missing),
        Err(DataError::Io { .. })
    ));
}

fn bundled(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/benchmarks")
        .join(name)
}

#[test]
fn bundled_mmlu_matches_its_published_accuracies() {
    let files: Vec<PathBuf> = (1..=3)
        .map(|i| bundled(&format!("routellm_mmlu_part{i}.jsonl.gz")))
        .collect();
    let records = load_benchmarks(&files).unwrap();
    assert_eq!(records.len(), 14_037);
    let mean =
        |model: &str| records.iter().map(|r| r.scores[model]).sum::<f64>() / records.len() as f64;
    assert!((mean("mistralai/Mixtral-8x7B-Instruct-v0.1") - 0.681).abs() < 0.001);
    assert!((mean("gpt-4-1106-preview") - 0.806).abs() < 0.001);
}

#[test]
fn bundled_prices_cover_every_bundled_model() {
    let catalog = PriceCatalog::load(&bundled("models.json")).unwrap();
    let mut files: Vec<PathBuf> = (1..=3)
        .map(|i| {
            bundled(&format!(
                "routerbench_subset_arc_mbpp_winogrande_part{i}.jsonl.gz"
            ))
        })
        .collect();
    files.extend((1..=2).map(|i| bundled(&format!("llmrouter_dc_9models_part{i}.jsonl.gz"))));
    for record in load_benchmarks(&files).unwrap() {
        for model in record.scores.keys() {
            assert!(catalog.price(model).is_some(), "no price for {model}");
        }
    }
}
