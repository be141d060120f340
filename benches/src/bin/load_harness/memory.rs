//! `memory`: resident memory per concurrent SSE stream of sim comparisons.

use super::*;

/// A server whose simulated models answer after `ttft_ms`, at `tokens_per_s` (0: no delay);
/// its log goes to `serve-<section>.log`.
pub(crate) fn sim_server(args: &Args, ttft_ms: &str, tokens_per_s: &str, section: &str) -> Proc {
    harness::serve(
        &args.bin,
        &server_config(&[]),
        &[
            ("LLM_COMPARE_SIM_TTFT_MS", ttft_ms),
            ("LLM_COMPARE_SIM_TOKENS_PER_S", tokens_per_s),
        ],
        &args.out.join(format!("serve-{section}.log")),
    )
    .unwrap()
}

/// N concurrent SSE streams of 4-model sim comparisons; server RSS per open stream.
pub(crate) async fn memory(args: &Args, out: &mut Value) {
    let streams = args.streams;
    // Every stream stays open ~40 s (first token after 1 s, then 1 token/s): long enough to
    // open all of them and read the server's memory while they are.
    let proxy = sim_server(args, "1000", "1", "memory");
    let client = reqwest::Client::new();
    let body = json!({"prompt": "memory", "models": ["sim/lorem", "sim/lorem", "sim/lorem", "sim/lorem"],
        "params": {"max_tokens": 40}});
    // Warm up (tokenizer loaded, allocator settled) with a few short comparisons.
    let short =
        json!({"prompt": "warm", "models": ["sim/echo", "sim/echo", "sim/echo", "sim/echo"]});
    for _ in 0..20 {
        let id = post_comparison(&client, &proxy.url, &short).await;
        let mut ev = open_stream(&client, &proxy.url, &id).await;
        while ev.next().await.is_some() {}
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let base = proxy.rss_kib();

    let opened = Arc::new(tokio::sync::Semaphore::new(0));
    let t0 = Instant::now();
    let mut tasks = Vec::with_capacity(streams);
    for _ in 0..streams {
        let (client, url, body, opened) = (
            client.clone(),
            proxy.url.clone(),
            body.clone(),
            opened.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let id = post_comparison(&client, &url, &body).await;
            let mut ev = open_stream(&client, &url, &id).await;
            let (mut first, mut n, mut complete) = (true, 0usize, false);
            while let Some(Ok(e)) = ev.next().await {
                if first {
                    opened.add_permits(1);
                    first = false;
                }
                n += 1;
                complete = e.event == "complete";
            }
            (n, complete)
        }));
    }
    let _ = opened.acquire_many(streams as u32).await.unwrap();
    let open_after = t0.elapsed();
    let mut peak = 0;
    for _ in 0..20 {
        peak = peak.max(proxy.rss_kib());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (mut complete, mut events) = (0, 0);
    for t in tasks {
        let (n, c) = t.await.unwrap();
        events += n;
        complete += usize::from(c);
    }
    let per_stream = peak.saturating_sub(base) as f64 / streams as f64;
    eprintln!(
        "memory: {streams} streams, base {base} KiB, peak {peak} KiB, {per_stream:.1} KiB/stream"
    );
    out["memory"] = json!({"streams": streams, "models_per_comparison": 4,
        "rss_before_kib": base, "rss_peak_kib": peak, "kib_per_stream": per_stream,
        "all_open_after_s": open_after.as_secs_f64(), "completed": complete, "events": events});
}
