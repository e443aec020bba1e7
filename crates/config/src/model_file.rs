//! Reading a learned model file, plain or gzip-compressed (recognised by its magic bytes).
//!
//! `routewise-data` reads benchmark files the same way, but it belongs to the offline side
//! (it depends on `routewise-learn`); the config, and so the gateway, stays off that side for
//! the sake of these few lines.

use flate2::read::MultiGzDecoder;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The whole file as text; the error names the file and what went wrong.
pub(crate) fn read_text(path: &Path) -> Result<String, String> {
    let fail = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
    let mut reader = BufReader::new(std::fs::File::open(path).map_err(fail)?);
    let compressed = reader.fill_buf().map_err(fail)?.starts_with(&GZIP_MAGIC);
    let mut text = String::new();
    if compressed {
        MultiGzDecoder::new(reader).read_to_string(&mut text)
    } else {
        reader.read_to_string(&mut text)
    }
    .map_err(fail)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn reads_plain_and_gzip_and_names_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("m.json");
        std::fs::write(&plain, "{}").unwrap();
        let packed = dir.path().join("m.json.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"{}").unwrap();
        std::fs::write(&packed, gz.finish().unwrap()).unwrap();
        assert_eq!(read_text(&plain).unwrap(), "{}");
        assert_eq!(read_text(&packed).unwrap(), "{}");
        let missing = dir.path().join("none.json");
        let err = read_text(&missing).unwrap_err();
        assert!(err.contains("none.json"), "{err}");
    }
}
