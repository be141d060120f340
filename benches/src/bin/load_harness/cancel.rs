//! `cancel`: how soon a client's disconnect cancels the upstream request.

use super::*;

pub(crate) async fn post_comparison(client: &reqwest::Client, url: &str, body: &Value) -> String {
    let r: Value = client
        .post(format!("{url}/v1/comparisons"))
        .json(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["request_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no request_id in {r}"))
        .to_string()
}

pub(crate) async fn open_stream(
    client: &reqwest::Client,
    url: &str,
    id: &str,
) -> impl futures::Stream<
    Item = Result<eventsource_stream::Event, eventsource_stream::EventStreamError<reqwest::Error>>,
> {
    client
        .get(format!("{url}/v1/comparisons/{id}/stream"))
        .send()
        .await
        .unwrap()
        .bytes_stream()
        .eventsource()
}

/// Client disconnect → upstream cancel, through `/v1/chat/completions`.
pub(crate) async fn cancel(args: &Args, out: &mut Value) {
    // Mid-stream: 50 tokens/s (a gap of 20 ms, like a real model); waiting: no token for 60 s.
    let streaming = MockConfig {
        ttft: Duration::ZERO,
        tokens_per_s: 50.0,
        chunks: 100_000,
    };
    let waiting = MockConfig {
        ttft: Duration::from_secs(60),
        tokens_per_s: 0.0,
        chunks: 10,
    };
    let (a, streaming_stats) = mock_upstream::spawn("127.0.0.1:0".parse().unwrap(), streaming)
        .await
        .unwrap();
    let (b, waiting_stats) = mock_upstream::spawn("127.0.0.1:0".parse().unwrap(), waiting)
        .await
        .unwrap();
    let proxy = harness::serve(
        &args.bin,
        &server_config(&[("streaming", a), ("waiting", b)]),
        &[],
        &args.out.join("serve-cancel.log"),
    )
    .unwrap();
    let mut cases = serde_json::Map::new();
    for (case, model, stats, marker) in [
        ("mid_stream", "streaming/mock-1", &streaming_stats, "tok0"),
        // No chunk comes before the first token: the client goes once the headers are in.
        (
            "waiting_for_first_token",
            "waiting/mock-1",
            &waiting_stats,
            "",
        ),
    ] {
        let mut lat = Vec::new();
        let mut missed = 0;
        for _ in 0..args.cancels {
            match disconnect_once(&proxy.url, model, stats, marker).await {
                Some(d) => lat.push(d),
                None => missed += 1,
            }
        }
        lat.sort();
        eprintln!(
            "cancel {case}: p50 {:.2} ms, max {:.2} ms, missed {missed}",
            percentile_ms(&lat, 0.5),
            percentile_ms(&lat, 1.0)
        );
        cases.insert(
            case.into(),
            json!({"trials": args.cancels, "missed": missed,
                "p50_ms": percentile_ms(&lat, 0.5), "p90_ms": percentile_ms(&lat, 0.9),
                "max_ms": percentile_ms(&lat, 1.0)}),
        );
    }
    out["cancel"] = Value::Object(cases);
}

/// Streams one chat completion until `marker` arrives, disconnects, and returns how long the
/// upstream took to see its request cancelled (`None`: not within 5 s).
pub(crate) async fn disconnect_once(
    url: &str,
    model: &str,
    stats: &Arc<MockStats>,
    marker: &str,
) -> Option<Duration> {
    let before = stats.cancelled.load(Ordering::Relaxed);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let resp = client
        .post(format!("{url}/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(chat_body(model))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{model}");
    let mut body = resp.bytes_stream();
    let mut seen = String::new();
    while !marker.is_empty()
        && let Some(Ok(b)) = body.next().await
    {
        seen.push_str(&String::from_utf8_lossy(&b));
        if seen.contains(marker) {
            break;
        }
    }
    // Let the upstream settle into its stream before the client goes.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let gone = Instant::now();
    drop(body);
    drop(client);
    let deadline = gone + Duration::from_secs(5);
    while stats.cancelled.load(Ordering::Relaxed) == before {
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    stats
        .last_cancel_at()
        .map(|t| t.saturating_duration_since(gone))
}
