//! The shipped operations files agree with the gateway: `deploy/prometheus/alerts.yml` has a
//! rule for every built-in alert (checked by `promtool` when it is installed), every metric the
//! rules and `deploy/grafana/routewise.json` use is one the gateway exports, the dashboard is
//! well-formed, and every alert has its section in `docs/RUNBOOK.md`.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a missing file is a failed test"
)]

use routewise_core::alerts::AlertKind;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap()
}

/// Every `routewise_...` name in `text`, histogram suffixes taken off.
fn metric_names(text: &str) -> BTreeSet<String> {
    let re = regex::Regex::new(r"routewise_[a-z0-9_]+").unwrap();
    re.find_iter(text)
        .map(|m| {
            let name = m.as_str();
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(name)
                .to_owned()
        })
        .collect()
}

/// The rules' `expr` blocks: from each `expr:` line to the rule's `for:`.
fn expressions(rules: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in rules.lines() {
        let key = line.trim_start();
        if key.starts_with("expr:") {
            inside = true;
        } else if key.starts_with("for:") || key.starts_with("- alert:") {
            inside = false;
        }
        if inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The metric names the gateway's metrics module registers.
fn exported() -> BTreeSet<String> {
    let source =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/metrics.rs"))
            .unwrap();
    let re = regex::Regex::new(r#""(routewise_[a-z0-9_]+)""#).unwrap();
    re.captures_iter(&source).map(|c| c[1].to_owned()).collect()
}

#[test]
fn prometheus_rules_cover_every_alert_with_exported_metrics() {
    let rules = read("deploy/prometheus/alerts.yml");
    for kind in AlertKind::ALL {
        let name = kind.name();
        assert!(
            rules.contains(&format!("- alert: {name}\n")),
            "no rule for {name}"
        );
        assert!(
            rules.contains(&format!("runbook_url: \"docs/RUNBOOK.md#{name}\"")),
            "{name} names no runbook section"
        );
    }
    let unknown: Vec<String> = metric_names(&expressions(&rules))
        .difference(&exported())
        .cloned()
        .collect();
    assert!(
        unknown.is_empty(),
        "alerts.yml uses metrics the gateway does not export: {unknown:?}"
    );
    for line in rules.lines() {
        assert!(!line.contains('\t'), "YAML does not allow tabs: {line:?}");
    }
    match std::process::Command::new("promtool")
        .args(["check", "rules"])
        .arg(repo("deploy/prometheus/alerts.yml"))
        .output()
    {
        Ok(output) => assert!(
            output.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(_) => eprintln!("promtool is not installed: alerts.yml checked by structure only"),
    }
}

#[test]
fn the_grafana_dashboard_is_well_formed_and_uses_exported_metrics() {
    let text = read("deploy/grafana/routewise.json");
    let dashboard: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(dashboard["uid"], "routewise");
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 10);
    let mut ids = BTreeSet::new();
    for panel in panels {
        assert!(
            ids.insert(panel["id"].as_u64().unwrap()),
            "panel ids are unique"
        );
        assert!(panel["title"].as_str().is_some_and(|t| !t.is_empty()));
        for key in ["x", "y", "w", "h"] {
            assert!(
                panel["gridPos"][key].is_u64(),
                "{} has gridPos.{key}",
                panel["title"]
            );
        }
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{} has a query", panel["title"]);
        for target in targets {
            assert!(
                target["expr"]
                    .as_str()
                    .is_some_and(|e| e.contains("routewise_"))
            );
        }
    }
    let queries: String = panels
        .iter()
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        .filter_map(|t| t["expr"].as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let unknown: Vec<String> = metric_names(&queries)
        .difference(&exported())
        .cloned()
        .collect();
    assert!(
        unknown.is_empty(),
        "the dashboard uses metrics the gateway does not export: {unknown:?}"
    );
}

#[test]
fn every_alert_has_its_runbook_section() {
    let runbook = read("docs/RUNBOOK.md");
    for kind in AlertKind::ALL {
        assert!(
            runbook.contains(&format!("\n## {}\n", kind.name())),
            "docs/RUNBOOK.md has no section for {}",
            kind.name()
        );
    }
    assert!(runbook.contains("## Rolling out a new routing policy safely"));
}
