//! `routewise validate`: compile config files and report every error with its field path.

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Config files to check.
    #[arg(long = "config", short = 'c', required = true, num_args = 1..)]
    configs: Vec<PathBuf>,
}

pub fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    for path in &args.configs {
        match routewise_config::load_file(path) {
            Ok(config) => outln!(
                "ok: {} ({} models in {} tiers, {} providers, policy {})",
                path.display(),
                config.catalog.models().len(),
                config.catalog.tiers().len(),
                config.providers.len(),
                config.routing.policy
            )?,
            Err(error) => {
                failed = true;
                eprintln!("invalid: {error}");
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
