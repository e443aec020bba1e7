//! `[store]` and `[memory]`: the embedded default beside the config file, and every mistake at
//! its field path; the track-record rule condition.
#![expect(
    clippy::panic,
    reason = "test helper: an unexpected result is a failed test"
)]

mod common;

use common::CATALOG;
use routewise_config::{ConfigError, from_str_with_env, load_file};
use std::time::Duration;

fn paths_of(extra: &str) -> Vec<(String, String)> {
    match from_str_with_env(&format!("{CATALOG}\n{extra}"), &|_| None) {
        Err(ConfigError::Invalid { errors, .. }) => {
            errors.into_iter().map(|e| (e.path, e.message)).collect()
        }
        other => panic!("expected field errors, got {other:?}"),
    }
}

#[test]
fn a_config_file_without_a_store_section_gets_an_sqlite_file_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routewise.toml");
    std::fs::write(&path, CATALOG).unwrap();
    let config = load_file(&path).unwrap();
    let expected = format!("sqlite://{}", dir.path().join("routewise.db").display());
    assert_eq!(config.store.url.as_deref(), Some(expected.as_str()));
    assert!(!config.store.log_prompts);

    std::fs::write(
        &path,
        format!("{CATALOG}\n[store]\nurl = \"sqlite://data/rw.db?mode=rwc\"\n"),
    )
    .unwrap();
    let config = load_file(&path).unwrap();
    let expected = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("data/rw.db").display()
    );
    assert_eq!(config.store.url.as_deref(), Some(expected.as_str()));

    std::fs::write(&path, format!("{CATALOG}\n[store]\nurl = \"none\"\n")).unwrap();
    assert_eq!(load_file(&path).unwrap().store.url, None);

    let text = from_str_with_env(CATALOG, &|_| None).unwrap();
    assert_eq!(
        text.store.url, None,
        "config text without a file keeps no store"
    );
}

#[test]
fn memory_defaults_and_settings() {
    let config = from_str_with_env(
        &format!("{CATALOG}\n[memory]\nttl = \"12h\"\nsimilarity = 0.7\nbad_below = 0.4\n"),
        &|_| None,
    )
    .unwrap();
    assert_eq!(config.memory.ttl, Duration::from_secs(12 * 3600));
    assert_eq!(
        (config.memory.similarity, config.memory.bad_below),
        (0.7, 0.4)
    );
    let defaults = from_str_with_env(CATALOG, &|_| None).unwrap().memory;
    assert_eq!(defaults.ttl, Duration::from_secs(14 * 24 * 3600));
    assert!(defaults.enabled);
}

#[test]
fn store_and_memory_mistakes_are_reported_at_their_paths() {
    let errors = paths_of(
        r#"
[store]
url = "mysql://db"
queue = 0
[memory]
bad_below = 1.5
ttl = "soon"
similarity = -1
max_entries = 0

[[routing.rules]]
name = "cheap-unless-bad"
target = "cheapest"
when = { track_record_below = { model = "gpt-9", score = 2.0 } }
"#,
    );
    let paths: Vec<&str> = errors.iter().map(|(p, _)| p.as_str()).collect();
    for expected in [
        "store.url",
        "store.queue",
        "memory.bad_below",
        "memory.ttl",
        "memory.similarity",
        "memory.max_entries",
        "routing.rules[0].when.track_record_below.model",
        "routing.rules[0].when.track_record_below.score",
    ] {
        assert!(
            paths.contains(&expected),
            "missing {expected} in {errors:?}"
        );
    }
}

#[test]
fn the_track_record_condition_defaults_to_the_cheapest_model() {
    let config = from_str_with_env(
        &format!(
            "{CATALOG}\n[[routing.rules]]\nname = \"escalate\"\ntarget = \"strongest\"\nwhen = {{ track_record_below = {{ score = 0.5 }} }}\n"
        ),
        &|_| None,
    )
    .unwrap();
    let rule = &config.routing.rules.rules()[0];
    assert_eq!(
        rule.when,
        routewise_core::policy::Condition::TrackRecordBelow {
            model: "mini".into(),
            score: 0.5,
            min_count: 3
        }
    );
}
