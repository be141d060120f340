//! The command-line subcommands.

use std::path::Path;

use llm_compare_core::{Config, Engine, Error};

pub mod models;
pub mod run;
pub mod serve;
pub mod worker;

/// The engine the CLI uses, from the configuration file (`--config`, else
/// `./llm-compare.toml` when present) and the environment; `max_models` overrides.
pub fn engine(config: Option<&Path>, max_models: Option<usize>) -> Result<Engine, Error> {
    let engine = Config::load(config)?.engine()?;
    Ok(match max_models {
        Some(n) => engine.with_max_models(n),
        None => engine,
    })
}

/// Prints an error the way every subcommand does.
pub fn print_error(e: &Error) {
    match e.field() {
        Some(field) => eprintln!("error: {e} (field: {field})"),
        None => eprintln!("error: {e}"),
    }
}
