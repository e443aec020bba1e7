//! `[server]` runtime settings: `worker_threads` (read once at start) and its bounds.
#![expect(
    clippy::panic,
    reason = "test helper: an unexpected result is a failed test"
)]

mod common;

use common::CATALOG;
use routewise_config::server::MAX_WORKER_THREADS;
use routewise_config::{ConfigError, from_str_with_env};

fn errors_of(extra: &str) -> Vec<(String, String)> {
    match from_str_with_env(&format!("{CATALOG}\n{extra}"), &|_| None) {
        Err(ConfigError::Invalid { errors, .. }) => {
            errors.into_iter().map(|e| (e.path, e.message)).collect()
        }
        other => panic!("expected field errors, got {other:?}"),
    }
}

fn worker_threads(extra: &str) -> Option<usize> {
    match from_str_with_env(&format!("{CATALOG}\n{extra}"), &|_| None) {
        Ok(config) => config.server.worker_threads,
        Err(err) => panic!("expected a valid config, got {err}"),
    }
}

#[test]
fn worker_threads_default_to_one_per_cpu_and_take_a_count() {
    assert_eq!(worker_threads(""), None);
    assert_eq!(worker_threads("[server]\nworker_threads = 1"), Some(1));
    assert_eq!(
        worker_threads(&format!("[server]\nworker_threads = {MAX_WORKER_THREADS}")),
        Some(MAX_WORKER_THREADS)
    );
}

#[test]
fn zero_or_absurd_worker_threads_are_refused_at_their_path() {
    let errors = errors_of("[server]\nworker_threads = 0");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, "server.worker_threads");
    assert!(errors[0].1.contains("at least 1"), "{}", errors[0].1);

    let errors = errors_of(&format!(
        "[server]\nworker_threads = {}",
        MAX_WORKER_THREADS + 1
    ));
    assert_eq!(errors[0].0, "server.worker_threads");
    assert!(errors[0].1.contains("at most 1024"), "{}", errors[0].1);
}
