//! The command-line subcommands.

use std::path::Path;

use std::sync::Arc;

use llm_compare_core::{Config, Error, InMemoryRegistry};
use llm_compare_service::{Service, SharedStore};

pub mod eval;
pub mod keys;
pub mod mcp;
pub mod models;
pub mod run;
pub mod serve;
pub mod worker;

/// The service the CLI's commands call (in memory, no store), over the engine from the
/// configuration file (`--config`, else `./llm-compare.toml` when present) and the
/// environment; `max_models` overrides. With `tools`, the configuration's MCP servers are
/// connected (commands that run models' loops need them; the others do without).
pub async fn service(
    config: Option<&Path>,
    max_models: Option<usize>,
    tools: bool,
) -> Result<Service, Error> {
    let config = Config::load(config)?;
    let engine = if tools {
        config.connect().await?
    } else {
        config.engine()?
    };
    Ok(service_over(engine, max_models, None))
}

fn service_over(
    engine: llm_compare_core::Engine,
    max_models: Option<usize>,
    store: Option<SharedStore>,
) -> Service {
    let engine = match max_models {
        Some(n) => engine.with_max_models(n),
        None => engine,
    };
    // One person's own process: their datasets are bounded by memory alone.
    Service::new(
        engine,
        Arc::new(InMemoryRegistry::default()),
        store,
        Vec::new(),
    )
    .with_limits(llm_compare_service::Limits::local())
}

/// [`stored_service`] for a command: the error printed, the usage exit code to return.
pub async fn stored_service_or_exit(
    config: Option<&Path>,
    data_dir: Option<&std::path::PathBuf>,
    database_url: Option<&String>,
) -> Result<Service, u8> {
    stored_service(config, data_dir, database_url, true)
        .await
        .map_err(|e| {
            print_error(&e);
            crate::EXIT_USAGE
        })
}

/// The service over the configuration's engine and the store `serve` would open (the same
/// `--data-dir` / `--database-url` / configuration): what `keys` and `eval` act on. With
/// `tools`, the configuration's MCP servers are connected.
pub async fn stored_service(
    config: Option<&Path>,
    data_dir: Option<&std::path::PathBuf>,
    database_url: Option<&String>,
    tools: bool,
) -> Result<Service, Error> {
    let config = Config::load(config)?;
    let mut options = llm_compare_http::ServerOptions::from_config(&config)
        .map_err(|e| Error::invalid(e.field.unwrap_or_default(), e.message))?;
    if let Some(d) = data_dir {
        options.data_dir.clone_from(d);
    }
    if let Some(u) = database_url {
        options.database_url = Some(u.clone());
    }
    std::fs::create_dir_all(&options.data_dir).map_err(|e| {
        Error::invalid(
            "data_dir",
            format!("cannot create {}: {e}", options.data_dir.display()),
        )
    })?;
    let store = llm_compare_service::SqlStore::open(&options.database_url()).await?;
    let engine = if tools {
        config.connect().await?
    } else {
        config.engine()?
    };
    Ok(service_over(engine, None, Some(store)))
}

/// Prints an error the way every subcommand does.
pub fn print_error(e: &Error) {
    match e.field() {
        Some(field) => eprintln!("error: {e} (field: {field})"),
        None => eprintln!("error: {e}"),
    }
}

/// Writes `text` and a newline to standard output. A reader that went away (`… | head`) is
/// not an error worth a panic: the rest is dropped quietly.
pub fn print_out(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
}
