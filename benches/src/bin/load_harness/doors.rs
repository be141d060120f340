//! `doors`: each vendor door's added latency beside the chat completions door's — the same
//! streamed answer of the same mock upstream, asked for through `POST /v1/chat/completions`,
//! `POST /v1/messages` (Anthropic's shape, translated both ways) and `POST /v1/responses`
//! (OpenAI's Responses shape: as Codex sends it, `store: false`, and as the SDK's default,
//! `store: true`, the thread written before the last event), run after run at each fixed
//! rate, each door against a fresh server. The ratio of each door's added p50 to chat's is
//! the section's verdict (issue 47: within 10 %).

use super::*;

/// A Messages API request for `model`, streamed, asking what `chat_body` asks.
fn messages_body(model: &str) -> String {
    json!({"model": model, "stream": true, "max_tokens": 256,
        "messages": [{"role": "user", "content": "Say hello"}]})
    .to_string()
}

/// A Responses API request for `model`, streamed, asking what `chat_body` asks.
fn responses_body(model: &str, store: bool) -> String {
    json!({"model": model, "stream": true, "store": store, "max_output_tokens": 256,
        "input": "Say hello"})
    .to_string()
}

pub(crate) async fn doors(args: &Args, oha: &Oha, out: &mut Value) {
    let (mock_addr, _stats) = mock_upstream::spawn(
        "127.0.0.1:0".parse().unwrap(),
        MockConfig::instant(args.chunks),
    )
    .await
    .unwrap();
    // Each door against a server of its own, started fresh for its run: a door measured
    // after another must not pay for the records the other left in the database.
    let fresh = || {
        harness::serve(
            &args.bin,
            &server_config(&[("mock", mock_addr)]),
            &[],
            &args.out.join("serve-doors.log"),
        )
        .unwrap()
    };
    let direct_url = format!("http://{mock_addr}/v1/chat/completions");
    let direct_body = chat_body("mock-1");
    let doors = [
        (
            "chat_completions",
            "/v1/chat/completions",
            chat_body("mock/mock-1"),
        ),
        ("messages", "/v1/messages", messages_body("mock/mock-1")),
        (
            "responses",
            "/v1/responses",
            responses_body("mock/mock-1", false),
        ),
        (
            "responses_stored",
            "/v1/responses",
            responses_body("mock/mock-1", true),
        ),
    ];
    let s = args.seconds;
    let mut points = Vec::new();
    for &rate in &args.rates {
        let direct = load(
            oha,
            direct_url.clone(),
            Some(direct_body.clone()),
            Some(rate),
            s,
        )
        .await;
        let mut by_door = serde_json::Map::new();
        let mut added_p50 = Vec::new();
        for (name, path, body) in &doors {
            let proxy = fresh();
            let url = format!("{}{path}", proxy.url);
            // Warm-up: connections, the allocator's arenas, the database's first pages.
            load(oha, url.clone(), Some(body.clone()), Some(200), 2).await;
            let r = load(oha, url, Some(body.clone()), Some(rate), s).await;
            let a = added(&r, &direct);
            eprintln!(
                "doors, rate {rate}: {name} added p50 {:.3} p99 {:.3} ({:.0} req/s)",
                a[0], a[2], r.rps
            );
            added_p50.push(a[0]);
            by_door.insert((*name).into(), json!({"run": run_json(&r), "added": a}));
        }
        let chat = added_p50[0].max(0.001);
        points.push(json!({
            "rate": rate,
            "direct": run_json(&direct),
            "doors": by_door,
            "over_chat_p50": {
                "messages": added_p50[1] / chat,
                "responses": added_p50[2] / chat,
                "responses_stored": added_p50[3] / chat,
            },
        }));
    }
    out["doors"] = json!({
        "request": "streamed, the mock's 20-chunk answer, through each door",
        "chunks": args.chunks,
        "seconds": s,
        "points": points,
    });
}
