//! Benchmark files: one JSON record per line, plain or gzip-compressed (recognised by its magic
//! bytes, whatever the file is called).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use routewise_learn::bench::{BenchmarkRecord, parse_line};

use crate::DataError;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Reads every record of one file. Blank lines are skipped; the first bad line stops the read
/// with an error naming the file and its 1-based line number.
pub fn read_benchmark_file(path: &Path) -> Result<Vec<BenchmarkRecord>, DataError> {
    Ok(read_numbered(path)?.into_iter().map(|(_, r)| r).collect())
}

/// Records with their 1-based line numbers, so later checks can point at the line too.
fn read_numbered(path: &Path) -> Result<Vec<(usize, BenchmarkRecord)>, DataError> {
    parse_lines(path, open_maybe_gzip(path)?)
}

/// Opens a file for buffered reading, decompressing it when it starts with the gzip magic bytes.
fn open_maybe_gzip(path: &Path) -> Result<Box<dyn BufRead>, DataError> {
    let io_error = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut reader = BufReader::new(File::open(path).map_err(io_error)?);
    let compressed = reader
        .fill_buf()
        .map_err(io_error)?
        .starts_with(&GZIP_MAGIC);
    if compressed {
        Ok(Box::new(BufReader::new(MultiGzDecoder::new(reader))))
    } else {
        Ok(Box::new(reader))
    }
}

fn parse_lines(
    path: &Path,
    reader: impl BufRead,
) -> Result<Vec<(usize, BenchmarkRecord)>, DataError> {
    let mut records = Vec::new();
    for (index, line) in reader.lines().enumerate() {
        let line = line.map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let record = parse_line(&line).map_err(|source| DataError::BadLine {
            path: path.to_path_buf(),
            line: index + 1,
            source,
        })?;
        records.push((index + 1, record));
    }
    if records.is_empty() {
        return Err(DataError::NoRecords {
            path: path.to_path_buf(),
        });
    }
    Ok(records)
}

/// Reads a whole text file, plain or gzip-compressed (recognised by its magic bytes): model
/// files and catalogs may be shipped either way.
pub fn read_text_file(path: &Path) -> Result<String, DataError> {
    let mut text = String::new();
    open_maybe_gzip(path)?
        .read_to_string(&mut text)
        .map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(text)
}

/// Reads several files into one data set, in the order given, and checks that ids are unique
/// across all of them (a file passed twice would otherwise count its prompts twice).
pub fn load_benchmarks(paths: &[PathBuf]) -> Result<Vec<BenchmarkRecord>, DataError> {
    let mut all = Vec::new();
    let mut seen: HashMap<String, &Path> = HashMap::new();
    for path in paths {
        for (line, record) in read_numbered(path)? {
            if let Some(first) = seen.insert(record.id.clone(), path) {
                return Err(DataError::DuplicateId {
                    path: path.clone(),
                    line,
                    id: record.id,
                    first: first.to_path_buf(),
                });
            }
            all.push(record);
        }
    }
    Ok(all)
}
