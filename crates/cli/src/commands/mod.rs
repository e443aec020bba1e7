//! One module per `routewise` subcommand, plus the config loading they share.

pub mod calibrate;
pub mod eval;
pub mod learn_args;
pub mod route;
pub mod serve;
pub mod train;
pub mod validate;

use anyhow::Context;
use routewise_config::Config;
use std::path::Path;

/// Loads `--config`, or the built-in example config when none is given.
pub fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    match path {
        Some(path) => Ok(routewise_config::load_file(path)?),
        None => routewise_config::builtin().context("the built-in config is invalid"),
    }
}
