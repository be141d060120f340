//! A session: a conversation each model carries on with its own earlier answers, turn by
//! turn (what `POST /v1/sessions` and `engine.session()` in the bindings give).
//!
//! ```sh
//! cargo run -p llm-compare-core --example session
//! ```

use std::sync::Arc;

use llm_compare_core::{Engine, InMemorySession, Params, ProviderRegistry, Session};

#[tokio::main]
async fn main() -> llm_compare_core::Result<()> {
    let engine = Engine::new(ProviderRegistry::with_sim());
    let models = ["sim/echo".to_string(), "sim/lorem".to_string()];
    let session: Arc<dyn Session> = Arc::new(InMemorySession::new(
        &engine,
        &models,
        Some("Be brief.".into()),
    )?);
    for question in ["What is Rust?", "And its borrow checker?"] {
        let done = engine
            .compare_in_session(session.clone(), question, &Params::default())
            .await?
            .result()
            .await?;
        println!("> {question}");
        for r in &done.results {
            println!("  {}: {}", r.model, r.text);
        }
    }
    Ok(())
}
