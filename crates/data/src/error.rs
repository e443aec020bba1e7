//! Errors of reading benchmark and price files; each names the file (and line) to fix.

use std::path::PathBuf;

use routewise_learn::bench::RecordError;

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {source}")]
    BadLine {
        path: PathBuf,
        line: usize,
        #[source]
        source: RecordError,
    },
    #[error(
        "{path}:{line}: record id {id:?} already appeared in {first}: ids must be unique across all files"
    )]
    DuplicateId {
        path: PathBuf,
        line: usize,
        id: String,
        first: PathBuf,
    },
    #[error("{path} holds no records: pass a JSONL file with one benchmark record per line")]
    NoRecords { path: PathBuf },
    #[error(
        "{path} is not a price catalog: {source} (expected {{\"models\": [{{\"name\", \"input_usd_per_1m\", \"output_usd_per_1m\"}}]}})"
    )]
    BadPrices {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "{path}: {field} of {model:?} is {value}, but prices must be finite USD per million tokens >= 0"
    )]
    BadPrice {
        path: PathBuf,
        model: String,
        field: &'static str,
        value: f64,
    },
}
