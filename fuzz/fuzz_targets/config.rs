//! A config file: `${VAR}` expansion, TOML parsing and the compiler with every check. Model
//! files are refused (a fuzz input must not name files to read).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let no_env = |_: &str| Some("value".to_owned());
    let Ok(expanded) = routewise_config::interpolate::expand(text, &no_env) else {
        return;
    };
    let Ok(raw) = toml::from_str::<routewise_config::raw::RawConfig>(&expanded) else {
        return;
    };
    let no_files = |_: &str| Err("no model files while fuzzing".to_owned());
    if let Ok(config) = routewise_config::compile::compile(raw, &no_files) {
        let _ = config.router();
    }
});
