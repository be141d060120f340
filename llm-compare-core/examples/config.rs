//! Real providers from the configuration: the same TOML the server reads
//! (`llm-compare.toml`, `[providers.*]`, keys from the environment). A model whose key is
//! missing is listed as unavailable with the reason; this example then compares the ones
//! that are available — offline, the simulated ones.
//!
//! ```sh
//! OPENAI_API_KEY=sk-... cargo run -p llm-compare-core --example config
//! ```

use llm_compare_core::{CompareRequest, Config};

#[tokio::main]
async fn main() -> llm_compare_core::Result<()> {
    let config = Config::parse(
        r#"
        [providers.openai]
        api_key_env = "OPENAI_API_KEY"
        models = ["gpt-4o-mini"]
        "#,
    )?;
    let engine = config.engine()?;
    let catalogue = engine.providers().catalogue(engine.prices()).await;
    for m in catalogue
        .iter()
        .filter(|m| m.id == "openai/gpt-4o-mini" || m.id == "sim/echo")
    {
        let why = m.reason.as_deref().unwrap_or("");
        println!("{:<20} available: {:<5} {why}", m.id, m.available);
    }
    let models: Vec<&str> = catalogue
        .iter()
        .filter(|m| m.available && (m.id == "openai/gpt-4o-mini" || m.id == "sim/echo"))
        .map(|m| m.id.as_str())
        .collect();
    let done = engine
        .compare(&CompareRequest::prompt(models, "One word for blue?"))?
        .result()
        .await?;
    for r in &done.results {
        println!(
            "{}: {} (cost {:?}, source {:?})",
            r.model, r.text, r.cost.total_usd, r.cost.source
        );
    }
    Ok(())
}
