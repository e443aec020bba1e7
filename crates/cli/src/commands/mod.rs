//! One module per `routewise` subcommand.

pub mod eval;
