//! The first use: one prompt to several models at once, every event as it happens, then the
//! results side by side. Simulated models, so it runs offline with no key:
//!
//! ```sh
//! cargo run -p llm-compare-core --example compare
//! ```

use futures::StreamExt;
use llm_compare_core::{CompareRequest, Engine, EventKind, ProviderRegistry};

#[tokio::main]
async fn main() -> llm_compare_core::Result<()> {
    let engine = Engine::new(ProviderRegistry::with_sim());
    let request = CompareRequest::prompt(["sim/echo", "sim/lorem"], "Say hello in five words");
    let mut comparison = engine.compare(&request)?;
    while let Some(event) = comparison.next().await {
        // The same JSON the server streams over SSE, the CLI prints and the bindings yield.
        println!("{}", event.to_json());
        if let EventKind::Complete(done) = &event.kind {
            for r in &done.results {
                println!(
                    "{:>10}: {:?} ({} output tokens)",
                    &*r.model, r.text, r.usage.output_tokens
                );
            }
        }
    }
    Ok(())
}
