//! `post`: `POST /v1/comparisons` at fixed rates and flat out, SQLite and PostgreSQL.

use super::*;

/// `POST /v1/comparisons` of 2-model zero-delay sim comparisons (each runs to its end and is
/// written: created, two results, finished) at each of `--post-rates`, `GET /health` at the
/// first rate as the floor; with SQLite and, given `--post-database-url`, PostgreSQL.
pub(crate) async fn post(args: &Args, oha: &Oha, out: &mut Value) {
    let mut backends = vec![("sqlite", None)];
    if let Some(url) = &args.post_database_url {
        backends.push(("postgres", Some(url.as_str())));
    }
    let body = json!({"prompt": "load test", "models": ["sim/echo", "sim/lorem"],
        "params": {"max_tokens": 16}})
    .to_string();
    let mut result = json!({});
    for (name, db) in backends {
        let mut env = vec![
            ("LLM_COMPARE_SIM_TTFT_MS", "0"),
            ("LLM_COMPARE_SIM_TOKENS_PER_S", "0"),
        ];
        if let Some(db) = db {
            env.push(("LLM_COMPARE_DATABASE_URL", db));
        }
        let proxy = harness::serve(
            &args.bin,
            &server_config(&[]),
            &env,
            &args.out.join(format!("serve-post-{name}.log")),
        )
        .unwrap();
        let url = format!("{}/v1/comparisons", proxy.url);
        load(oha, url.clone(), Some(body.clone()), Some(200), 2).await;
        let first = args.post_rates.first().copied().filter(|r| *r > 0);
        let health = load(
            oha,
            format!("{}/health", proxy.url),
            None,
            first.or(Some(1000)),
            args.seconds,
        )
        .await;
        let mut points = Vec::new();
        for &rate in &args.post_rates {
            let rate = (rate > 0).then_some(rate);
            let run = load(oha, url.clone(), Some(body.clone()), rate, args.seconds).await;
            eprintln!(
                "post ({name}) at {}: {:.0} req/s, p50 {:.3} ms, p99 {:.3} ms, {} errors",
                fmt_rate(rate),
                run.rps,
                run.p50,
                run.p99,
                run.errors
            );
            points.push(json!({"rate": rate, "run": run_json(&run)}));
        }
        // Every comparison must be written through: none still running once the load stops.
        let mut running = -1.0;
        for _ in 0..100 {
            running = active(&proxy.url).await;
            if running == 0.0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        result[name] = json!({"health": run_json(&health), "points": points,
            "active_after": running});
    }
    out["post"] = result;
}

/// `llm_compare_active_comparisons` of the server at `url`.
pub(crate) async fn active(url: &str) -> f64 {
    let text = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("llm_compare_active_comparisons "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(f64::NAN)
}
