//! `auth`: the cost of API-key authentication and per-key limits on the request path.

use super::*;

/// The auth section: what checking a stored API key adds to a request. Two servers on the
/// same mock upstream — one open, one whose data directory holds a key (every request
/// authenticated from the key cache) — take the same streamed chat completion at each fixed
/// rate, in alternating runs (open, keyed, open, keyed) so drift hits both alike.
pub(crate) async fn auth(args: &Args, oha: &Oha, out: &mut Value) {
    let (mock_addr, _stats) = mock_upstream::spawn(
        "127.0.0.1:0".parse().unwrap(),
        MockConfig::instant(args.chunks),
    )
    .await
    .unwrap();
    let config = server_config(&[("mock", mock_addr)]);
    let open = harness::serve(
        &args.bin,
        &config,
        &[],
        &args.out.join("serve-auth-open.log"),
    )
    .unwrap();
    let dir = harness::temp_dir("serve-keyed").unwrap();
    let key = harness::mint_key(&args.bin, &dir, "bench").unwrap();
    let keyed = harness::serve_in(
        dir,
        &args.bin,
        &config,
        &[],
        &args.out.join("serve-auth-keyed.log"),
    )
    .unwrap();
    let mut with_key = oha.clone();
    with_key
        .headers
        .push(format!("Authorization: Bearer {key}"));
    let body = chat_body("mock/mock-1");
    let (open_url, keyed_url) = (
        format!("{}/v1/chat/completions", open.url),
        format!("{}/v1/chat/completions", keyed.url),
    );
    // The keyed server refuses a request without its key: the runs below measure checked
    // requests, not 401s.
    let refused = load(oha, keyed_url.clone(), Some(body.clone()), Some(50), 1).await;
    assert_eq!(refused.ok, 0, "the keyed server answered without a key");
    load(oha, open_url.clone(), Some(body.clone()), Some(200), 2).await;
    load(
        &with_key,
        keyed_url.clone(),
        Some(body.clone()),
        Some(200),
        2,
    )
    .await;
    let mut points = Vec::new();
    for &rate in &args.rates {
        let mut runs = (Vec::new(), Vec::new());
        for _ in 0..2 {
            runs.0.push(
                load(
                    oha,
                    open_url.clone(),
                    Some(body.clone()),
                    Some(rate),
                    args.seconds,
                )
                .await,
            );
            runs.1.push(
                load(
                    &with_key,
                    keyed_url.clone(),
                    Some(body.clone()),
                    Some(rate),
                    args.seconds,
                )
                .await,
            );
        }
        let mean = |rs: &[LoadRun], f: fn(&LoadRun) -> f64| {
            rs.iter().map(f).sum::<f64>() / rs.len() as f64
        };
        let (o50, o99) = (mean(&runs.0, |r| r.p50), mean(&runs.0, |r| r.p99));
        let (k50, k99) = (mean(&runs.1, |r| r.p50), mean(&runs.1, |r| r.p99));
        eprintln!(
            "auth at {rate} req/s: open p50 {o50:.3} p99 {o99:.3} | keyed p50 {k50:.3} p99 {k99:.3} ms"
        );
        points.push(json!({"rate": rate,
            "open": runs.0.iter().map(run_json).collect::<Vec<_>>(),
            "keyed": runs.1.iter().map(run_json).collect::<Vec<_>>(),
            "open_p50": o50, "open_p99": o99, "keyed_p50": k50, "keyed_p99": k99,
            "added_p50": k50 - o50, "added_p99": k99 - o99}));
    }
    out["auth"] = json!({"request": "POST /v1/chat/completions, stream: true", "runs_per_rate": 2,
        "seconds": args.seconds, "connections": args.connections, "points": points});
}
