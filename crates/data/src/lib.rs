//! routewise-data: the file side of benchmarks — reading labelled prompts from plain or gzip
//! JSONL files, the model price catalog (`models.json`), and any other text file routewise
//! accepts plain or gzipped (model files). Parsing of one record is pure and
//! lives in `routewise_learn::bench`; this crate adds files, decompression and line numbers.

mod benchmarks;
mod error;
mod prices;

pub use benchmarks::{load_benchmarks, read_benchmark_file, read_text_file};
pub use error::DataError;
pub use prices::{BUNDLED_CATALOG_NAME, ModelPrice, PriceCatalog};
