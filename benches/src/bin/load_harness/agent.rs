//! `agent`: tool-loop comparisons (sim agent model, a Rust tool) at a fixed rate.

use super::*;

/// The agent section: 1,000 concurrent agent comparisons in this process (`sim/agent`, zero
/// delay, `steps=4`: three tool calls to an in-process Rust tool, then the answer) — wall
/// time, loops and steps per second, and this process's added peak memory per loop.
pub(crate) async fn agent(_args: &Args, out: &mut Value) {
    use llm_compare_core::tools::Toolbox;
    use llm_compare_core::{
        CompareOptions, CompareRequest, Engine, EventKind, ProviderRegistry, SimConfig, SimProvider,
    };
    const LOOPS: usize = 1000;
    let mut providers = ProviderRegistry::new();
    providers.register(Arc::new(SimProvider::new(SimConfig::instant())));
    let engine = Arc::new(Engine::new(providers));
    let tools =
        Arc::new(Toolbox::new().function(
            "square",
            "Squares a number",
            json!({"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}),
            |a: Value| async move {
                Ok::<_, String>((a["x"].as_f64().unwrap_or(0.0).powi(2)).to_string())
            },
        ));
    let request: CompareRequest = serde_json::from_value(json!({
        "models": ["sim/agent"],
        "messages": [{"role": "user", "content": "square 7 steps=4"}],
    }))
    .unwrap();
    let run_one = {
        let (engine, tools, request) = (engine.clone(), tools.clone(), request.clone());
        move || {
            let (engine, tools, request) = (engine.clone(), tools.clone(), request.clone());
            async move {
                let calls = engine.plan(&request).unwrap();
                let mut c = engine
                    .compare_calls(
                        calls,
                        CompareOptions {
                            tools: Some(tools),
                            ..CompareOptions::default()
                        },
                    )
                    .unwrap();
                let mut steps = 0;
                while let Some(e) = c.next().await {
                    if let EventKind::Complete(done) = e.kind {
                        steps = done.results[0].steps;
                    }
                }
                steps
            }
        }
    };
    // Warm-up: the tokenizer, the allocator.
    for _ in 0..20 {
        assert_eq!(run_one().await, 4);
    }
    let me = std::process::id();
    let before = harness::rss_kib(me);
    let start = Instant::now();
    let handles: Vec<_> = (0..LOOPS).map(|_| tokio::spawn(run_one())).collect();
    let mut steps = 0u64;
    for h in handles {
        steps += u64::from(h.await.unwrap());
    }
    let secs = start.elapsed().as_secs_f64();
    let peak = harness::peak_rss_kib(me);
    let added = peak.saturating_sub(before);
    eprintln!(
        "agent: {LOOPS} concurrent loops of 4 steps in {:.3} s: {:.0} loops/s, {:.0} steps/s; RSS before {:.1} MiB, peak {:.1} MiB (+{:.1} KiB per loop)",
        secs,
        LOOPS as f64 / secs,
        steps as f64 / secs,
        before as f64 / 1024.0,
        peak as f64 / 1024.0,
        added as f64 / LOOPS as f64
    );
    out["agent"] = json!({"loops": LOOPS, "steps": steps, "seconds": secs,
        "loops_per_s": LOOPS as f64 / secs, "steps_per_s": steps as f64 / secs,
        "rss_before_kib": before, "peak_kib": peak, "added_kib_per_loop": added as f64 / LOOPS as f64});
}
