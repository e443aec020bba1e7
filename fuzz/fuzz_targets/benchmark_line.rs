//! One line of a benchmark file (`routewise eval`, `train`, `calibrate` read them).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|line: &str| {
    if let Ok(record) = routewise_learn::bench::parse_line(line) {
        let _ = serde_json::to_string(&record);
    }
});
