//! The `routewise` binary: a thin command-line shell over the routing core, config and gateway.
//! Each command lives in its own file under `commands/`.

#[macro_use]
mod output;
mod commands;

use clap::{Parser, Subcommand};

/// mimalloc rather than the system allocator: under load the gateway allocates on one thread
/// and frees on another (records cross to the store's writer), where glibc's malloc spent a
/// fifth of the CPU consolidating and unlinking chunks (docs/SERVE.md, "Overhead").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::process::ExitCode;

/// routewise: send each LLM request to the cheapest model that will answer it well.
#[derive(Debug, Parser)]
#[command(name = "routewise", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Evaluate routing policies on labelled benchmark data: cost/quality curves, APGR, CPT,
    /// savings against always-strong, N-model frontiers, as a table, JSON and a plot.
    Eval(commands::eval::EvalArgs),
    /// Decide which model a prompt (or a chat request) should go to, and explain why.
    Route(commands::route::RouteArgs),
    /// Fit a learned router on labelled benchmark data and save it as a model file.
    Train(commands::train::TrainArgs),
    /// Find the learned router's threshold for a strong-model share or a quality floor.
    Calibrate(commands::calibrate::CalibrateArgs),
    /// Check config files: every error is reported with its field path.
    Validate(commands::validate::ValidateArgs),
    /// Run the OpenAI-compatible gateway: POST /v1/chat/completions with `model: "auto"`.
    Serve(commands::serve::ServeArgs),
    /// Stream benchmark prompts through the serving code with feedback from their scores:
    /// how policies, online learning, targets and budgets do as traffic goes by.
    Simulate(commands::simulate::SimulateArgs),
    /// Compare an experiment's arms, control and shadows from the store: cost, strong share,
    /// quality with intervals, and a recommendation (cut over, keep testing, roll back).
    Report(commands::report::ReportArgs),
    /// Run logged traffic through a candidate policy: counterfactual cost and off-policy
    /// estimates of its quality (IPS, SNIPS, doubly robust).
    Replay(commands::replay::ReplayArgs),
    /// Move a staged rollout of a candidate policy (`--to 0.1`), roll it back, or finish it, by
    /// editing the config file the gateway reloads.
    Rollout(commands::rollout::RolloutArgs),
    /// Write the rated requests of a config's store as benchmark JSONL, to train and evaluate on
    /// your own traffic.
    Export(commands::export::ExportArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Eval(args) => commands::eval::run(args),
        Command::Route(args) => commands::route::run(args),
        Command::Validate(args) => commands::validate::run(args),
        Command::Serve(args) => commands::serve::run(args),
        Command::Train(args) => commands::train::run(args),
        Command::Calibrate(args) => commands::calibrate::run(args),
        Command::Export(args) => commands::export::run(args),
        Command::Simulate(args) => commands::simulate::run(args),
        Command::Rollout(args) => commands::rollout::run(args),
        Command::Report(args) => commands::report::run(args),
        Command::Replay(args) => commands::replay::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) if output::is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", output::describe(&error));
            ExitCode::FAILURE
        }
    }
}
