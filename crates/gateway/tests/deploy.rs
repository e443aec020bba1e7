//! The shipped operations files agree with the gateway: `deploy/prometheus/alerts.yml` has a
//! rule for every built-in alert (checked by `promtool` when it is installed), every metric the
//! rules and `deploy/grafana/routewise.json` use is one the gateway exports, the dashboard is
//! well-formed, and every alert has its section in `docs/RUNBOOK.md`. The deployment files agree
//! with it too: the Kubernetes manifests in `deploy/kubernetes` serve a ConfigMap that compiles,
//! on the port it listens on, with probes, a termination grace and a Secret that fit it, and the
//! systemd unit in `deploy/systemd` serves a config and outlasts its drain.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a missing file is a failed test"
)]

use routewise_core::alerts::AlertKind;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
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

// The deployment files. No YAML parser is among the workspace's dependencies (Cargo.lock has
// none), and these checks do not warrant adding one: the manifests are written in block style,
// two spaces an indent, one document a file, and the helpers below read them by that structure,
// line by line. A manifest that left that style (flow mappings, anchors, several documents)
// makes a check fail rather than pass.

const KUBERNETES: &str = "deploy/kubernetes";

/// How far `line` is indented.
fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The key of a `key: value`, `key:` or `- key: value` line; `None` for comments, list scalars
/// and anything else (such as the TOML inside the ConfigMap).
fn key_of(line: &str) -> Option<&str> {
    let item = line.trim_start();
    let item = item.strip_prefix("- ").unwrap_or(item);
    let (key, _) = item.split_once(':')?;
    (!key.is_empty() && !key.starts_with('#') && !key.contains(char::is_whitespace)).then_some(key)
}

/// The lines nested under the first line whose key is `key`, comments and blank lines left
/// out; `None` when no line has that key.
fn block(yaml: &str, key: &str) -> Option<String> {
    let mut lines = yaml.lines();
    let start = lines.find(|line| key_of(line) == Some(key))?;
    let depth = indent(start);
    let mut nested = String::new();
    for line in lines {
        let text = line.trim_start();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        if indent(line) <= depth {
            break;
        }
        nested.push_str(line);
        nested.push('\n');
    }
    Some(nested)
}

/// The value of the first `key: value` (or `- key: value`) line in `yaml`, without its comment
/// and quotes.
fn value<'a>(yaml: &'a str, key: &str) -> Option<&'a str> {
    yaml.lines().find_map(|line| {
        let item = line.trim_start();
        let item = item.strip_prefix("- ").unwrap_or(item);
        let rest = item.strip_prefix(key)?.strip_prefix(':')?;
        let rest = rest
            .split_once(" #")
            .map_or(rest, |(value, _)| value)
            .trim();
        Some(rest.trim_matches('"'))
    })
}

/// The YAML files in `deploy/kubernetes`, by file name.
fn manifests() -> BTreeMap<String, String> {
    std::fs::read_dir(repo(KUBERNETES))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".yaml") || name.ends_with(".yml"))
        .map(|name| {
            let text = read(&format!("{KUBERNETES}/{name}"));
            (name, text)
        })
        .collect()
}

/// The config file a ConfigMap holds: its key under `data` and its text, unindented (its
/// comments left out, which TOML does not miss).
fn configmap_toml(configmap: &str) -> (String, String) {
    let data = block(configmap, "data").unwrap();
    let key = data.lines().next().and_then(key_of).unwrap().to_owned();
    let nested = block(&data, &key).unwrap();
    let margin = nested.lines().next().map_or(0, indent);
    let mut toml = String::new();
    for line in nested.lines() {
        toml.push_str(line.get(margin..).unwrap_or(""));
        toml.push('\n');
    }
    (key, toml)
}

/// A Secret's `stringData`: key to value.
fn secret_entries(secret: &str) -> BTreeMap<String, String> {
    block(secret, "stringData")
        .unwrap()
        .lines()
        .filter_map(|line| {
            let key = key_of(line)?;
            Some((key.to_owned(), value(line, key)?.to_owned()))
        })
        .collect()
}

#[test]
fn the_kubernetes_deployment_serves_its_configmap_on_the_port_its_probes_use() {
    let manifests = manifests();
    let file = |name: &str| {
        manifests
            .get(name)
            .unwrap_or_else(|| panic!("{KUBERNETES}/{name} is missing"))
            .as_str()
    };
    for (name, text) in &manifests {
        for line in text.lines() {
            assert!(
                !line.contains('\t'),
                "{name}: YAML does not allow tabs: {line:?}"
            );
        }
    }
    let deployment = file("deployment.yaml");
    let configmap = file("configmap.yaml");
    let service = file("service.yaml");
    let pdb = file("pdb.yaml");
    assert_eq!(value(deployment, "kind"), Some("Deployment"));
    assert_eq!(value(configmap, "kind"), Some("ConfigMap"));
    assert_eq!(value(service, "kind"), Some("Service"));
    assert_eq!(value(pdb, "kind"), Some("PodDisruptionBudget"));

    // The config compiles with routewise's own compiler, with nothing in the environment but
    // the Secret's variables; the Secret holds every key the providers read, and placeholders
    // only.
    let (data_key, toml) = configmap_toml(configmap);
    let secret = secret_entries(file("secret.yaml"));
    let config = routewise_config::from_str_with_env(&toml, &|name| {
        secret
            .contains_key(name)
            .then(|| "from-the-secret".to_owned())
    })
    .unwrap_or_else(|e| panic!("configmap.yaml's {data_key} does not compile: {e}"));
    for provider in &config.providers {
        if let Some(var) = &provider.api_key_env {
            assert!(
                secret.contains_key(var),
                "provider {} reads its key from {var}, which secret.yaml does not hold",
                provider.name
            );
        }
    }
    for (key, placeholder) in &secret {
        assert_eq!(
            placeholder, "REPLACE_ME",
            "secret.yaml is a template: {key} must be a placeholder"
        );
    }
    assert!(
        config
            .store
            .url
            .as_deref()
            .is_some_and(|url| url.starts_with("postgres://")),
        "replicas share a PostgreSQL store, not {:?}",
        config.store.url
    );
    assert!(
        config.shared.is_some(),
        "replicas share their state through [shared] redis"
    );

    let replicas: u32 = value(deployment, "replicas").unwrap().parse().unwrap();
    assert!(
        replicas >= 2,
        "replicas: {replicas}: a single replica is a single point of failure"
    );

    // One port: the one the config listens on, on every interface, which the probes, the
    // scrape annotation and the Service all reach.
    let ports = block(deployment, "ports").unwrap();
    let port_name = value(&ports, "name").unwrap();
    let container_port: u16 = value(&ports, "containerPort").unwrap().parse().unwrap();
    let listen = config.server.listen;
    assert_eq!(
        container_port,
        listen.port(),
        "containerPort is not the port of [server] listen = {listen}"
    );
    assert!(
        listen.ip().is_unspecified(),
        "[server] listen = {listen}: probes and the Service reach the pod's IP, listen on 0.0.0.0"
    );
    let resolve = |port: &str| -> u16 {
        if port == port_name {
            container_port
        } else {
            port.parse().unwrap_or_else(|_| {
                panic!("port {port} is neither a number nor the container's port `{port_name}`")
            })
        }
    };
    for (probe, paths) in [
        ("startupProbe", ["/healthz", "/readyz"].as_slice()),
        ("readinessProbe", ["/readyz"].as_slice()),
        ("livenessProbe", ["/healthz"].as_slice()),
    ] {
        let spec = block(deployment, probe).unwrap_or_else(|| panic!("no {probe}"));
        let path = value(&spec, "path").unwrap();
        assert!(
            paths.contains(&path),
            "{probe} checks {path}, not {paths:?}"
        );
        assert_eq!(
            resolve(value(&spec, "port").unwrap()),
            container_port,
            "{probe} checks another port"
        );
    }
    let annotations = block(deployment, "annotations").unwrap();
    assert_eq!(value(&annotations, "prometheus.io/scrape"), Some("true"));
    assert_eq!(value(&annotations, "prometheus.io/path"), Some("/metrics"));
    assert_eq!(
        resolve(value(&annotations, "prometheus.io/port").unwrap()),
        container_port
    );
    let service_ports = block(service, "ports").unwrap();
    assert_eq!(value(&service_ports, "port"), Some("80"));
    assert_eq!(
        resolve(value(&service_ports, "targetPort").unwrap()),
        container_port
    );

    // The Service, the PodDisruptionBudget and the Deployment select the Deployment's pods.
    let match_labels = block(deployment, "matchLabels").unwrap();
    let app = value(&match_labels, "app.kubernetes.io/name").unwrap();
    let template = block(deployment, "template").unwrap();
    let pod_labels = block(&template, "labels").unwrap();
    assert_eq!(value(&pod_labels, "app.kubernetes.io/name"), Some(app));
    let service_selector = block(service, "selector").unwrap();
    assert_eq!(
        value(&service_selector, "app.kubernetes.io/name"),
        Some(app)
    );
    let pdb_selector = block(pdb, "matchLabels").unwrap();
    assert_eq!(value(&pdb_selector, "app.kubernetes.io/name"), Some(app));
    let max_unavailable: u32 = value(pdb, "maxUnavailable").unwrap().parse().unwrap();
    assert!(
        (1..replicas).contains(&max_unavailable),
        "the PodDisruptionBudget must let a node drain and keep a replica up"
    );
    assert!(block(deployment, "topologySpreadConstraints").is_some());

    // --config names the ConfigMap's file where its volume is mounted.
    let configmap_metadata = block(configmap, "metadata").unwrap();
    let configmap_name = value(&configmap_metadata, "name").unwrap();
    let volumes = block(deployment, "volumes").unwrap();
    let volume = regex::Regex::new(r"- name: (\S+)\n\s+configMap:\n\s+name: (\S+)")
        .unwrap()
        .captures_iter(&volumes)
        .find(|c| c[2] == *configmap_name)
        .map(|c| c[1].to_owned())
        .unwrap_or_else(|| panic!("no volume holds the ConfigMap {configmap_name}"));
    let mounts = block(deployment, "volumeMounts").unwrap();
    let mount = regex::Regex::new(r"- name: (\S+)\n\s+mountPath: (\S+)")
        .unwrap()
        .captures_iter(&mounts)
        .find(|c| c[1] == volume)
        .map(|c| c[2].to_owned())
        .unwrap_or_else(|| panic!("the volume {volume} is not mounted"));
    let args = value(deployment, "args").unwrap();
    assert!(
        args.contains(&format!(r#""serve", "--config", "{mount}/{data_key}""#)),
        "args {args} do not serve {mount}/{data_key}"
    );
    let secret_ref = block(deployment, "secretRef").unwrap();
    let secret_metadata = block(file("secret.yaml"), "metadata").unwrap();
    assert_eq!(
        value(&secret_ref, "name"),
        value(&secret_metadata, "name"),
        "envFrom names another Secret"
    );

    // Termination: the preStop pause and the drain both fit in the grace period.
    let grace: u64 = value(deployment, "terminationGracePeriodSeconds")
        .unwrap()
        .parse()
        .unwrap();
    let pre_stop = block(deployment, "preStop").unwrap();
    let pause: u64 = regex::Regex::new(r#""sleep", "(\d+)""#)
        .unwrap()
        .captures(&pre_stop)
        .map(|c| c[1].to_owned())
        .or_else(|| value(&pre_stop, "seconds").map(str::to_owned))
        .unwrap()
        .parse()
        .unwrap();
    let drain = config.server.shutdown_grace.as_secs();
    assert!(
        pause > 0,
        "preStop must pause while the endpoint removal spreads"
    );
    assert!(
        grace > pause + drain,
        "terminationGracePeriodSeconds {grace} must outlast preStop ({pause} s) and \
         shutdown_grace_secs ({drain} s)"
    );

    assert_eq!(value(deployment, "runAsNonRoot"), Some("true"));
    assert_eq!(value(deployment, "readOnlyRootFilesystem"), Some("true"));
    assert_eq!(value(deployment, "allowPrivilegeEscalation"), Some("false"));
    let resources = block(deployment, "resources").unwrap();
    for section in ["requests", "limits"] {
        let amounts = block(&resources, section).unwrap_or_else(|| panic!("no {section}"));
        for resource in ["cpu", "memory"] {
            assert!(
                value(&amounts, resource).is_some(),
                "no {section}.{resource}"
            );
        }
    }
}

#[test]
fn the_kustomization_lists_every_manifest_but_the_secret_template() {
    let manifests = manifests();
    let kustomization = &manifests["kustomization.yaml"];
    let listed = block(kustomization, "resources").unwrap();
    let resources: BTreeSet<&str> = listed
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("- "))
        .map(|name| name.split_once(" #").map_or(name, |(name, _)| name).trim())
        .collect();
    assert!(
        manifests.contains_key("secret.yaml") && !resources.contains("secret.yaml"),
        "secret.yaml is a template: applying it would replace the real Secret's keys"
    );
    let expected: BTreeSet<&str> = manifests
        .keys()
        .map(String::as_str)
        .filter(|name| !["kustomization.yaml", "secret.yaml"].contains(name))
        .collect();
    assert_eq!(resources, expected, "kustomization.yaml's resources");

    // Every object is in the one namespace, which namespace.yaml creates.
    let namespace = value(kustomization, "namespace").unwrap();
    let namespace_metadata = block(&manifests["namespace.yaml"], "metadata").unwrap();
    assert_eq!(value(&namespace_metadata, "name"), Some(namespace));
    for (name, text) in &manifests {
        if name == "kustomization.yaml" || name == "namespace.yaml" {
            continue;
        }
        let metadata = block(text, "metadata").unwrap_or_else(|| panic!("{name} has no metadata"));
        assert_eq!(value(&metadata, "namespace"), Some(namespace), "{name}");
    }

    // The image the kustomization sets is the Deployment's.
    let images = block(kustomization, "images").unwrap();
    let image = value(&manifests["deployment.yaml"], "image").unwrap();
    let repository = image
        .rsplit_once(':')
        .map_or(image, |(repository, _)| repository);
    assert_eq!(value(&images, "name"), Some(repository));
}

#[test]
fn the_systemd_unit_serves_a_config_and_outlasts_its_drain() {
    let unit = read("deploy/systemd/routewise.service");
    let directive = |name: &str| {
        unit.lines()
            .filter_map(|line| line.strip_prefix(name)?.strip_prefix('='))
            .map(str::trim)
            .collect::<Vec<_>>()
    };
    let exec_start = directive("ExecStart");
    assert_eq!(exec_start.len(), 1, "one ExecStart: {exec_start:?}");
    let words: Vec<&str> = exec_start[0].split_whitespace().collect();
    assert!(
        words[0].starts_with('/') && words[0].ends_with("/routewise"),
        "ExecStart runs {}, not an absolute path to routewise",
        words[0]
    );
    let config_path = match &words[1..] {
        ["serve", "--config", path, ..] => *path,
        _ => panic!("ExecStart does not run `routewise serve --config FILE`: {exec_start:?}"),
    };
    assert!(
        config_path.starts_with('/'),
        "--config {config_path} is relative"
    );
    for (name, expected) in [
        ("KillSignal", "SIGTERM"),
        ("Restart", "on-failure"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
    ] {
        assert_eq!(directive(name), [expected], "{name}");
    }
    assert!(
        directive("ExecReload")
            .iter()
            .any(|reload| reload.contains("-HUP") && reload.contains("$MAINPID")),
        "ExecReload must send SIGHUP (routewise reloads its config on it)"
    );
    assert!(
        directive("EnvironmentFile")
            .iter()
            .any(|file| file.trim_start_matches('-').starts_with('/')),
        "the provider keys come from an EnvironmentFile"
    );
    assert!(
        directive("LimitNOFILE")
            .iter()
            .any(|n| n.parse::<u64>().is_ok_and(|n| n >= 4096)),
        "LimitNOFILE must allow [server] max_connections (4096)"
    );
    assert!(
        directive("DynamicUser") == ["yes"] || !directive("User").is_empty(),
        "the service must not run as root"
    );
    let state = directive("StateDirectory");
    assert_eq!(state.len(), 1, "one StateDirectory: {state:?}");

    // The config the README installs compiles, keeps its SQLite store in the state directory
    // (the only place the unit may write), and drains within TimeoutStopSec.
    let readme = read("deploy/systemd/README.md");
    let toml = readme
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .unwrap();
    let config = routewise_config::from_str_with_env(toml, &|_| None)
        .unwrap_or_else(|e| panic!("deploy/systemd/README.md's config does not compile: {e}"));
    let store = config.store.url.as_deref().unwrap_or_default();
    assert!(
        store.starts_with(&format!("sqlite:///var/lib/{}/", state[0])),
        "the README's [store] url {store} is not in the StateDirectory {}",
        state[0]
    );
    let stop: u64 = directive("TimeoutStopSec")[0]
        .trim_end_matches('s')
        .parse()
        .unwrap();
    let drain = config.server.shutdown_grace.as_secs();
    assert!(
        stop > drain,
        "TimeoutStopSec={stop} must outlast shutdown_grace_secs ({drain} s)"
    );
}
