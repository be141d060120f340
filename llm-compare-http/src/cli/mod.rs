//! The command-line subcommands.

use llm_compare_core::{Engine, Error, ProviderRegistry, SimConfig, SimProvider};
use std::sync::Arc;

pub mod models;
pub mod run;

/// The engine the CLI uses: every configured provider (the simulated one for now, timed by
/// `LLM_COMPARE_SIM_*` variables) and the bundled price table.
pub fn engine(max_models: usize) -> Result<Engine, Error> {
    let mut providers = ProviderRegistry::new();
    providers.register(Arc::new(SimProvider::new(SimConfig::from_env()?)));
    Ok(Engine::new(providers).with_max_models(max_models))
}

/// Prints an error the way every subcommand does.
pub fn print_error(e: &Error) {
    match e.field() {
        Some(field) => eprintln!("error: {e} (field: {field})"),
        None => eprintln!("error: {e}"),
    }
}
