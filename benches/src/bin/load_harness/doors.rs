//! `doors`: each vendor door's added latency beside the chat completions door's — the same
//! streamed answer of the same mock upstream, asked for through `POST /v1/chat/completions`
//! and `POST /v1/messages` (Anthropic's shape, translated both ways), run after run at each
//! fixed rate. The ratio of their added p50 is the section's verdict (issue 47: within 10 %).

use super::*;

/// A Messages API request for `model`, streamed, asking what `chat_body` asks.
fn messages_body(model: &str) -> String {
    json!({"model": model, "stream": true, "max_tokens": 256,
        "messages": [{"role": "user", "content": "Say hello"}]})
    .to_string()
}

pub(crate) async fn doors(args: &Args, oha: &Oha, out: &mut Value) {
    let (mock_addr, _stats) = mock_upstream::spawn(
        "127.0.0.1:0".parse().unwrap(),
        MockConfig::instant(args.chunks),
    )
    .await
    .unwrap();
    let proxy = harness::serve(
        &args.bin,
        &server_config(&[("mock", mock_addr)]),
        &[],
        &args.out.join("serve-doors.log"),
    )
    .unwrap();
    let direct_url = format!("http://{mock_addr}/v1/chat/completions");
    let direct_body = chat_body("mock-1");
    let doors = [
        (
            "chat_completions",
            "/v1/chat/completions",
            chat_body("mock/mock-1"),
        ),
        ("messages", "/v1/messages", messages_body("mock/mock-1")),
    ];
    let s = args.seconds;
    for (_, path, body) in &doors {
        load(
            oha,
            format!("{}{path}", proxy.url),
            Some(body.clone()),
            Some(200),
            2,
        )
        .await;
    }
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
            let r = load(
                oha,
                format!("{}{path}", proxy.url),
                Some(body.clone()),
                Some(rate),
                s,
            )
            .await;
            let a = added(&r, &direct);
            eprintln!(
                "doors, rate {rate}: {name} added p50 {:.3} p99 {:.3} ({:.0} req/s)",
                a[0], a[2], r.rps
            );
            added_p50.push(a[0]);
            by_door.insert((*name).into(), json!({"run": run_json(&r), "added": a}));
        }
        points.push(json!({
            "rate": rate,
            "direct": run_json(&direct),
            "doors": by_door,
            "messages_over_chat_p50": added_p50[1] / added_p50[0].max(0.001),
        }));
    }
    out["doors"] = json!({
        "request": "streamed, the mock's 20-chunk answer, through each door",
        "chunks": args.chunks,
        "seconds": s,
        "points": points,
    });
}
