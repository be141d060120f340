//! An agent with a Rust tool: each model runs its own loop — calls the tool, gets the result,
//! answers — and its result sums the steps' tokens and cost. `sim/agent` calls the first tool
//! it is offered, so this runs offline.
//!
//! ```sh
//! cargo run -p llm-compare-core --example agent
//! ```

use std::sync::Arc;

use llm_compare_core::tools::Toolbox;
use llm_compare_core::{CompareOptions, CompareRequest, Engine, ProviderRegistry};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> llm_compare_core::Result<()> {
    let square = Toolbox::new().function(
        "square",
        "x squared",
        json!({"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}),
        |args: Value| async move {
            let x = args["x"].as_f64().ok_or("x must be a number")?;
            Ok::<_, String>((x * x).to_string())
        },
    );
    let engine = Engine::new(ProviderRegistry::with_sim());
    let calls = engine.plan(&CompareRequest::prompt(
        ["sim/agent", "sim/echo"],
        "square 7",
    ))?;
    let options = CompareOptions {
        tools: Some(Arc::new(square)),
        ..CompareOptions::default()
    };
    let done = engine.compare_calls(calls, options)?.result().await?;
    for r in &done.results {
        println!("{}: {}", r.model, r.text);
    }
    Ok(())
}
