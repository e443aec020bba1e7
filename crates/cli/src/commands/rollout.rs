//! `routewise rollout`: moves a staged rollout (`[[experiments]]` with `incumbent`,
//! `candidate` and `rollout`) by editing the config file in place, keeping its comments and
//! layout. The edited config is compiled before it replaces the file, so a gateway watching it
//! never sees an invalid one; the gateway applies it on the next request after its reload
//! (file watch or SIGHUP).

use anyhow::{Context, bail};
use clap::Args;
use routewise_config::experiments::ExperimentConfig;
use std::path::PathBuf;
use std::process::ExitCode;
use toml_edit::{DocumentMut, Item, Table, value};

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("change").required(true).args(["to", "rollback", "finish", "status"])))]
pub struct RolloutArgs {
    /// The config file holding the experiment (edited in place).
    #[arg(long, short = 'c')]
    config: PathBuf,
    /// The experiment's `name`.
    #[arg(long, short = 'e')]
    experiment: String,
    /// The candidate's new share, 0 to 1 (e.g. 0.01, 0.1, 1.0).
    #[arg(long, value_parser = parse_share)]
    to: Option<f64>,
    /// Every request back to the incumbent (rollout = 0).
    #[arg(long)]
    rollback: bool,
    /// End a rollout at 1.0: the candidate becomes the policy of the experiment's routes and
    /// the experiment is removed (the incumbent is no longer the fallback).
    #[arg(long)]
    finish: bool,
    /// Print the rollout's state and change nothing.
    #[arg(long)]
    status: bool,
}

fn parse_share(text: &str) -> Result<f64, String> {
    let share: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number: give the candidate's share, 0 to 1"))?;
    if !(0.0..=1.0).contains(&share) {
        return Err(format!("{share} is not between 0 and 1"));
    }
    Ok(share)
}

pub fn run(args: RolloutArgs) -> anyhow::Result<ExitCode> {
    let config = routewise_config::load_file(&args.config)?;
    let experiment = config
        .experiments
        .iter()
        .find(|e| e.name == args.experiment)
        .with_context(|| {
            let names: Vec<&str> = config.experiments.iter().map(|e| e.name.as_str()).collect();
            format!(
                "{} has no experiment `{}`; its experiments are: {}",
                args.config.display(),
                args.experiment,
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            )
        })?;
    let Some(rollout) = &experiment.rollout else {
        bail!(
            "experiment `{}` is not a rollout: give it `incumbent`, `candidate` and `rollout` (its arms are set by their weights)",
            experiment.name
        );
    };
    let now = routewise_gateway::now_unix_ms();
    if args.status {
        outln!("{}", status_line(experiment, now))?;
        return Ok(ExitCode::SUCCESS);
    }
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("cannot read {}", args.config.display()))?;
    let mut doc: DocumentMut = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", args.config.display()))?;
    let index = experiment_index(&doc, &experiment.name)?;
    let message = if args.finish {
        if rollout.share < 1.0 {
            bail!(
                "experiment `{}` is at {}: finish a rollout at 1.0 (`--to 1.0` first, once `routewise report` says cut over)",
                experiment.name,
                rollout.share
            );
        }
        finish(&mut doc, index, experiment)?;
        format!(
            "experiment `{}` finished: `{}` is now the policy of its routes, and the experiment is removed",
            experiment.name, rollout.candidate
        )
    } else {
        let share = if args.rollback {
            0.0
        } else {
            args.to.unwrap_or(rollout.share)
        };
        set_share(&mut doc, index, share)?;
        let mut message = format!(
            "experiment `{}`: the candidate `{}` goes from {} to {} of requests (incumbent `{}`)",
            experiment.name, rollout.candidate, rollout.share, share, rollout.incumbent
        );
        if let Some((until, date)) = &rollout.keep_previous_until
            && now >= *until
        {
            message.push_str(&format!(
                "; note: the incumbent was to be kept only until {date}"
            ));
        }
        message
    };
    let edited = doc.to_string();
    routewise_config::from_str_at(&edited, &args.config)
        .context("the edited config would be invalid, so the file is unchanged")?;
    super::write_replacing(&args.config, edited.as_bytes())?;
    outln!("{message}")?;
    outln!(
        "{} written; a gateway serving it applies the change on its next request after it reloads (config watch, or SIGHUP)",
        args.config.display()
    )?;
    Ok(ExitCode::SUCCESS)
}

fn status_line(experiment: &ExperimentConfig, now: u64) -> String {
    let Some(rollout) = &experiment.rollout else {
        return String::new();
    };
    let kept = match &rollout.keep_previous_until {
        Some((until, date)) if now < *until => format!("; the incumbent is kept until {date}"),
        Some((_, date)) => format!(
            "; the incumbent's keep-until date {date} has passed (`--finish` removes the experiment)"
        ),
        None => String::new(),
    };
    format!(
        "experiment `{}`: candidate `{}` at {} of requests, incumbent `{}`{kept}",
        experiment.name, rollout.candidate, rollout.share, rollout.incumbent
    )
}

/// The experiment's position in the file's `[[experiments]]`.
fn experiment_index(doc: &DocumentMut, name: &str) -> anyhow::Result<usize> {
    doc.get("experiments")
        .and_then(Item::as_array_of_tables)
        .and_then(|tables| {
            tables
                .iter()
                .position(|t| t.get("name").and_then(Item::as_str) == Some(name))
        })
        .with_context(|| {
            format!("experiment `{name}` is not written as an [[experiments]] table in the file")
        })
}

fn experiment_table(doc: &mut DocumentMut, index: usize) -> anyhow::Result<&mut Table> {
    doc.get_mut("experiments")
        .and_then(Item::as_array_of_tables_mut)
        .and_then(|tables| tables.get_mut(index))
        .context("the [[experiments]] table moved while it was edited")
}

fn set_share(doc: &mut DocumentMut, index: usize, share: f64) -> anyhow::Result<()> {
    experiment_table(doc, index)?["rollout"] = value(share);
    Ok(())
}

/// The candidate becomes the policy of every route the experiment claims; the experiment goes.
fn finish(
    doc: &mut DocumentMut,
    index: usize,
    experiment: &ExperimentConfig,
) -> anyhow::Result<()> {
    let Some(rollout) = &experiment.rollout else {
        bail!("experiment `{}` is not a rollout", experiment.name);
    };
    let candidate = rollout.candidate.as_str();
    match &experiment.routes {
        // Every route: the default policy, and routes that named the incumbent.
        None => {
            let routing = doc
                .entry("routing")
                .or_insert(toml_edit::table())
                .as_table_mut()
                .context("[routing] is not a table")?;
            routing["policy"] = value(candidate);
            for route in routes_mut(doc)?.iter_mut() {
                if route.get("policy").and_then(Item::as_str) == Some(rollout.incumbent.as_str()) {
                    route["policy"] = value(candidate);
                }
            }
        }
        Some(names) => {
            for name in names {
                set_route_policy(doc, name, candidate)?;
            }
        }
    }
    let tables = doc
        .get_mut("experiments")
        .and_then(Item::as_array_of_tables_mut)
        .context("[[experiments]] vanished while it was edited")?;
    tables.remove(index);
    if tables.is_empty() {
        doc.remove("experiments");
    }
    Ok(())
}

fn routes_mut(doc: &mut DocumentMut) -> anyhow::Result<&mut toml_edit::ArrayOfTables> {
    let server = doc
        .entry("server")
        .or_insert(toml_edit::table())
        .as_table_mut()
        .context("[server] is not a table")?;
    server.set_implicit(true);
    server
        .entry("routes")
        .or_insert(Item::ArrayOfTables(toml_edit::ArrayOfTables::new()))
        .as_array_of_tables_mut()
        .context("server.routes is not written as [[server.routes]] tables")
}

/// Sets a route's policy, declaring the route (the implicit `auto`) when the file does not.
fn set_route_policy(doc: &mut DocumentMut, name: &str, policy: &str) -> anyhow::Result<()> {
    let routes = routes_mut(doc)?;
    let declared = routes
        .iter()
        .position(|r| r.get("name").and_then(Item::as_str) == Some(name));
    match declared.and_then(|i| routes.get_mut(i)) {
        Some(route) => route["policy"] = value(policy),
        None => {
            let mut route = Table::new();
            route["name"] = value(name);
            route["policy"] = value(policy);
            routes.push(route);
        }
    }
    Ok(())
}
