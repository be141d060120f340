//! Black-box tests of the server on loopback: the contract, every status code, resume,
//! cancel, expiry, isolation between users, limits, WebSocket, the OpenAI-compatible
//! endpoint, metrics and OpenAPI.

use std::time::{Duration, Instant};

use eventsource_stream::Eventsource;
use futures::StreamExt;
use llm_compare_core::SimConfig;
use llm_compare_http::ServerOptions;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common;
use common::*;

#[tokio::test]
async fn post_then_stream_the_whole_comparison() {
    let s = start().await;
    let r = create(&s, None, json!({"prompt": "hello big world", "models": ["sim/echo", "sim/lorem", "sim/error"], "params": {"max_tokens": 6}})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let body: Value = r.json().await.unwrap();
    let id = body["request_id"].as_str().unwrap();
    assert_eq!(body["status"], "pending");
    assert_eq!(location, format!("/v1/comparisons/{id}"));
    assert_eq!(body["stream_url"], format!("/v1/comparisons/{id}/stream"));
    assert_eq!(
        body["models"],
        json!(["sim/echo", "sim/lorem", "sim/error"])
    );

    let events = read_sse(&s, None, id, None, 1000).await;
    let seq = seqs(&events);
    assert_eq!(
        seq,
        (1..=seq.len() as u64).collect::<Vec<_>>(),
        "ids are the seqs, no gap"
    );
    for (id_seq, ty, data) in &events {
        assert_eq!(data["seq"].as_u64(), *id_seq);
        assert_eq!(
            data["type"].as_str().unwrap(),
            ty,
            "event: matches the JSON type"
        );
    }
    let (_, ty, last) = events.last().unwrap();
    assert_eq!(ty, "complete");
    assert_eq!(last["request_id"], id);
    assert_eq!(last["results"][0]["text"], "hello big world");
    assert_eq!(last["results"][2]["error"]["code"], "bad_request");

    // Snapshot after completion.
    let snap: Value = client()
        .get(format!("{}{location}", s.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(snap["status"], "completed");
    assert_eq!(snap["models"][0]["text"], "hello big world");
    assert_eq!(snap["models"][0]["stage"], "done");
    assert_eq!(snap["models"][2]["stage"], "failed");
    assert_eq!(snap["last_seq"], seq.len());
    // Connecting after completion replays everything and closes.
    let again = read_sse(&s, None, id, None, 1000).await;
    assert_eq!(seqs(&again), seq);
}

#[tokio::test]
async fn bad_requests_get_a_status_and_the_field() {
    let s = start_with(
        ServerOptions {
            body_limit: 4096,
            ..ServerOptions::default()
        },
        sim_config(),
    )
    .await;
    let cases: Vec<(Value, u16, &str, Option<&str>)> = vec![
        (
            json!({"prompt": "x"}),
            400,
            "invalid_request",
            Some("models"),
        ),
        (
            json!({"prompt": "x", "models": ["sim/echo"], "bogus": 1}),
            400,
            "invalid_request",
            Some("bogus"),
        ),
        (
            json!({"prompt": "x", "models": "sim/echo"}),
            400,
            "invalid_request",
            Some("models"),
        ),
        (
            json!({"models": ["sim/echo"]}),
            400,
            "invalid_request",
            Some("prompt"),
        ),
        (
            json!({"prompt": "x", "messages": [], "models": ["sim/echo"]}),
            400,
            "invalid_request",
            Some("prompt"),
        ),
        (
            json!({"prompt": "", "models": ["sim/echo"]}),
            400,
            "invalid_request",
            Some("prompt"),
        ),
        (
            json!({"prompt": "x", "models": []}),
            400,
            "invalid_request",
            Some("models"),
        ),
        (
            json!({"prompt": "x", "models": vec!["sim/echo"; 9]}),
            400,
            "invalid_request",
            Some("models"),
        ),
        (
            json!({"prompt": "x", "models": ["nope/model"]}),
            400,
            "unknown_model",
            Some("models"),
        ),
        (
            json!({"prompt": "x", "models": ["sim/echo"], "params": {"temperature": 7}}),
            400,
            "invalid_request",
            Some("params.temperature"),
        ),
        (
            json!({"prompt": "x", "models": ["sim/echo"], "params": {"max_tokens": -1}}),
            400,
            "invalid_request",
            Some("params.max_tokens"),
        ),
        (
            // A server without a store says what it lacks (and the web UI asks /health first).
            json!({"prompt": "x", "models": ["sim/echo"], "session_id": "s1"}),
            501,
            "not_configured",
            None,
        ),
        (
            json!({"prompt": "x".repeat(5000), "models": ["sim/echo"]}),
            413,
            "payload_too_large",
            None,
        ),
        (
            // Parts: a media type that is not an image's, an unknown part type, broken base64.
            json!({"models": ["sim/echo"], "messages": [{"role": "user", "content": [
                {"type": "text", "text": "x"}, {"type": "image", "media_type": "image/bmp", "data": "Qk0="}]}]}),
            400,
            "invalid_request",
            Some("messages[0].content[1].media_type"),
        ),
        (
            json!({"models": ["sim/echo"], "messages": [{"role": "user", "content": [
                {"type": "text", "text": "x"}, {"type": "video", "url": "https://x/y.mp4"}]}]}),
            400,
            "invalid_request",
            Some("messages[0].content[1]"),
        ),
        (
            json!({"models": ["sim/echo"], "messages": [{"role": "user", "content": [
                {"type": "file", "media_type": "application/pdf", "data": "%%%"}]}]}),
            400,
            "invalid_request",
            Some("messages[0].content[0].data"),
        ),
    ];
    for (body, status, code, field) in cases {
        let r = create(&s, None, body.clone()).await;
        assert_eq!(r.status().as_u16(), status, "{body}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["code"], code, "{body}: {e}");
        assert_eq!(e["error"]["field"].as_str(), field, "{body}: {e}");
        assert!(!e["error"]["message"].as_str().unwrap().is_empty());
    }
    let r = client()
        .post(format!("{}/v1/comparisons", s.url))
        .body("{not json")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = client()
        .post(format!("{}/v1/comparisons", s.url))
        .body("prompt=x")
        .header("content-type", "text/plain")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let r = get(&s, "/v1/comparisons/does-not-exist").await;
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "not_found"
    );
    let r = get(&s, "/v1/comparisons/does-not-exist/stream").await;
    assert_eq!(r.status(), 404);
    let r = client()
        .get(format!("{}/v1/comparisons/x/stream", s.url))
        .header("last-event-id", "abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = get(&s, "/no/such/route").await;
    assert_eq!(r.status(), 404);
    let r = client()
        .put(format!("{}/v1/comparisons", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
}

#[tokio::test]
async fn api_keys_and_isolation_between_users() {
    let s = start_with(keyed(), sim_config()).await;
    let body = json!({"prompt": "secret", "models": ["sim/echo"]});
    let r = create(&s, None, body.clone()).await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "unauthorized"
    );
    assert_eq!(create(&s, Some("WRONG"), body.clone()).await.status(), 401);
    let id = create_id(&s, Some("KEY-A"), body.clone()).await;
    // X-API-Key works as well as Bearer.
    let events = read_sse(&s, Some("KEY-A"), &id, None, 100).await;
    assert_eq!(events.last().unwrap().1, "complete");
    // Bob cannot see, stream or cancel Alice's request: 404, as if it did not exist.
    for (method, path) in [
        ("GET", format!("/v1/comparisons/{id}")),
        ("GET", format!("/v1/comparisons/{id}/stream")),
        ("DELETE", format!("/v1/comparisons/{id}")),
    ] {
        let r = client()
            .request(method.parse().unwrap(), format!("{}{path}", s.url))
            .bearer_auth("KEY-B")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{method} {path}");
    }
    // Without a key the stream is 401, not 404.
    let r = get(&s, &format!("/v1/comparisons/{id}/stream")).await;
    assert_eq!(r.status(), 401);
    // Public routes need no key.
    for p in ["/health", "/ready", "/metrics", "/openapi.json"] {
        assert_eq!(
            client()
                .get(format!("{}{p}", s.url))
                .send()
                .await
                .unwrap()
                .status(),
            200,
            "{p}"
        );
    }
    assert_eq!(get(&s, "/v1/models").await.status(), 401);
}

#[tokio::test]
async fn resume_from_the_middle_has_no_gap_and_no_duplicate() {
    let s = start_with(
        ServerOptions::default(),
        SimConfig {
            ttft: Duration::from_millis(1),
            slow_ttft: Duration::ZERO,
            tokens_per_s: 300.0,
        },
    )
    .await;
    let id = create_id(&s, None, json!({"prompt": "resume me", "models": ["sim/lorem", "sim/lorem"], "params": {"max_tokens": 40}})).await;
    let first = read_sse(&s, None, &id, None, 15).await;
    assert_eq!(first.len(), 15);
    let cut = first.last().unwrap().0.unwrap();
    // The client went away (connection dropped); it comes back with Last-Event-ID.
    let rest = read_sse(&s, None, &id, Some(cut), 10_000).await;
    assert_eq!(
        rest.first().unwrap().0,
        Some(cut + 1),
        "exactly the events after {cut}"
    );
    let mut all = seqs(&first);
    all.extend(seqs(&rest));
    assert_eq!(all, (1..=all.len() as u64).collect::<Vec<_>>());
    assert_eq!(rest.last().unwrap().1, "complete");
    // Resume via the query parameter too, after completion.
    let r = client()
        .get(format!(
            "{}/v1/comparisons/{id}/stream?last_event_id={}",
            s.url,
            all.len() - 2
        ))
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert_eq!(
        text.matches("\nid: ").count() + usize::from(text.starts_with("id: ")),
        2,
        "{text}"
    );
}

#[tokio::test]
async fn a_client_disconnecting_does_not_cancel() {
    let s = start_with(
        ServerOptions::default(),
        SimConfig {
            ttft: Duration::from_millis(1),
            slow_ttft: Duration::ZERO,
            tokens_per_s: 100.0,
        },
    )
    .await;
    let id = create_id(
        &s,
        None,
        json!({"prompt": "x", "models": ["sim/lorem"], "params": {"max_tokens": 20}}),
    )
    .await;
    let first = read_sse(&s, None, &id, None, 4).await;
    drop(first);
    // Nobody reads any more; the comparison still runs to the end.
    let deadline = Instant::now() + Duration::from_secs(10);
    let snap = loop {
        let snap: Value = get(&s, &format!("/v1/comparisons/{id}"))
            .await
            .json()
            .await
            .unwrap();
        if snap["status"] != "running" || Instant::now() > deadline {
            break snap;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(snap["status"], "completed");
    assert_eq!(
        snap["models"][0]["text"]
            .as_str()
            .unwrap()
            .split(' ')
            .count(),
        20
    );
}

#[tokio::test]
async fn delete_cancels_upstream_and_ends_the_stream_cancelled() {
    let s = start().await;
    let id = create_id(&s, None, json!({"prompt": "x", "models": ["sim/slow", "sim/lorem"], "params": {"max_tokens": 10000}})).await;
    // The reader is on the stream, and lorem streams, before the DELETE.
    let resp = client()
        .get(format!("{}/v1/comparisons/{id}/stream", s.url))
        .send()
        .await
        .unwrap();
    let mut frames = llm_compare_testkit::sse::Reader::new(resp);
    while let Some((_, event, _)) = frames.next().await {
        if event == "response_chunk" {
            break;
        }
    }
    assert_eq!(s.sim.active_streams(), 2);
    let reader = tokio::spawn(frames.rest());
    let t0 = Instant::now();
    let r = client()
        .delete(format!("{}/v1/comparisons/{id}", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "cancelled");
    while s.sim.active_streams() > 0 {
        assert!(
            t0.elapsed() < Duration::from_millis(100),
            "upstream still running"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let rest = reader.await.unwrap();
    let (_, event, v) = rest.last().unwrap();
    assert_eq!(event, "complete");
    assert_eq!(v["status"], "cancelled");
}

#[tokio::test]
async fn unopened_requests_expire_and_stop_working() {
    let mut o = ServerOptions::default();
    o.registry.unopened_ttl = Duration::from_millis(100);
    let s = start_with(o, sim_config()).await;
    let id = create_id(&s, None, json!({"prompt": "x", "models": ["sim/slow"]})).await;
    let streams = || s.sim.active_streams();
    llm_compare_testkit::eventually("the call started", Duration::from_secs(5), || {
        streams() == 1
    })
    .await;
    // sim/slow takes 30 s to its first token: only the unopened TTL (100 ms) stops it sooner.
    llm_compare_testkit::eventually(
        "the unopened request expired",
        Duration::from_secs(5),
        || streams() == 0,
    )
    .await;
    let r = get(&s, &format!("/v1/comparisons/{id}/stream")).await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn sixth_active_comparison_is_refused_and_other_users_are_not() {
    let s = start_with(keyed(), sim_config()).await;
    let slow = json!({"prompt": "x", "models": ["sim/slow"]});
    for _ in 0..5 {
        create_id(&s, Some("KEY-A"), slow.clone()).await;
    }
    let r = create(&s, Some("KEY-A"), slow.clone()).await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "rate_limited"
    );
    // Bob is unaffected.
    create_id(&s, Some("KEY-B"), slow.clone()).await;
}

#[tokio::test]
async fn request_rate_is_limited_per_user() {
    let s = start_with(
        ServerOptions {
            requests_per_minute: 60,
            burst: 3,
            ..keyed()
        },
        sim_config(),
    )
    .await;
    let quick = json!({"prompt": "x", "models": ["sim/echo"]});
    for _ in 0..3 {
        assert_eq!(create(&s, Some("KEY-A"), quick.clone()).await.status(), 201);
    }
    let r = create(&s, Some("KEY-A"), quick.clone()).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(create(&s, Some("KEY-B"), quick.clone()).await.status(), 201);
}

#[tokio::test]
async fn keep_alive_comments_are_sent_while_waiting() {
    let s = start_with(
        ServerOptions {
            keepalive: Duration::from_millis(50),
            ..ServerOptions::default()
        },
        sim_config(),
    )
    .await;
    let id = create_id(&s, None, json!({"prompt": "x", "models": ["sim/slow"]})).await;
    let resp = get(&s, &format!("/v1/comparisons/{id}/stream")).await;
    let mut body = resp.bytes_stream();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_millis(400);
    while Instant::now() < deadline {
        if let Ok(Some(Ok(chunk))) =
            tokio::time::timeout(Duration::from_millis(100), body.next()).await
        {
            seen.extend_from_slice(&chunk);
        }
    }
    let text = String::from_utf8_lossy(&seen);
    assert!(
        text.lines().filter(|l| l.starts_with(':')).count() >= 3,
        "{text}"
    );
}

#[tokio::test]
async fn websocket_streams_the_same_events() {
    let s = start().await;
    let id = create_id(
        &s,
        None,
        json!({"prompt": "over the socket", "models": ["sim/echo"]}),
    )
    .await;
    let ws_url = format!(
        "{}/v1/comparisons/{id}/ws?last_event_id=2",
        s.url.replace("http://", "ws://")
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    let mut got = Vec::new();
    while let Some(Ok(m)) = ws.next().await {
        if let tokio_tungstenite::tungstenite::Message::Text(t) = m {
            got.push(serde_json::from_str::<Value>(&t).unwrap());
        }
    }
    assert_eq!(got[0]["seq"], 3, "resumed after seq 2");
    assert_eq!(got.last().unwrap()["type"], "complete");
    let sse = read_sse(&s, None, &id, Some(2), 1000).await;
    let sse: Vec<Value> = sse.into_iter().map(|e| e.2).collect();
    assert_eq!(got, sse, "WebSocket and SSE carry the same events");
}

#[tokio::test]
async fn openai_compatible_chat_completions() {
    let s = start().await;
    let url = format!("{}/v1/chat/completions", s.url);
    let r: Value = client()
        .post(&url)
        .json(&json!({"model": "sim/echo", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "ping pong"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["object"], "chat.completion");
    assert_eq!(r["choices"][0]["message"]["content"], "ping pong");
    assert_eq!(r["choices"][0]["finish_reason"], "stop");
    assert_eq!(r["usage"]["completion_tokens"], 2);
    assert!(r["usage"]["prompt_tokens"].as_u64().unwrap() > 0);

    // OpenAI's content parts: text and an image by data URL (what an SDK's vision request
    // sends); a data URL whose bytes are not what it declares is a 400 naming the part.
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
    let vision = |url: String| {
        json!({"model": "sim/echo", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": url, "detail": "low"}},
        ]}]})
    };
    let r = common::json(
        client()
            .post(&url)
            .json(&vision(format!("data:image/png;base64,{png}"))),
    )
    .await;
    assert_eq!(r["choices"][0]["message"]["content"], "what is this", "{r}");
    let r = client()
        .post(&url)
        .json(&vision(format!("data:image/jpeg;base64,{png}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(
        e["error"]["param"], "messages[0].content[1].media_type",
        "{e}"
    );

    let resp = client()
        .post(&url)
        .json(&json!({"model": "sim/echo", "stream": true, "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "a b c"}]}))
        .send()
        .await
        .unwrap();
    let mut ev = resp.bytes_stream().eventsource();
    let mut text = String::new();
    let mut usage = None;
    let mut done = false;
    let mut chunks = 0;
    while let Some(e) = ev.next().await {
        let e = e.unwrap();
        if e.data == "[DONE]" {
            done = true;
            break;
        }
        let v: Value = serde_json::from_str(&e.data).unwrap();
        assert_eq!(v["object"], "chat.completion.chunk");
        if chunks == 0 {
            assert_eq!(
                v["choices"][0]["delta"],
                json!({"role": "assistant", "content": ""})
            );
        }
        chunks += 1;
        if let Some(c) = v["choices"][0]["delta"]["content"].as_str() {
            text.push_str(c);
        }
        if !v["usage"].is_null() {
            usage = Some(v["usage"].clone());
        }
    }
    assert!(done);
    assert_eq!(text, "a b c");
    assert_eq!(usage.unwrap()["completion_tokens"], 3);

    let r = client()
        .post(&url)
        .json(&json!({"model": "sim/error", "messages": [{"role": "user", "content": "x"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "bad_request"
    );
    let r = client()
        .post(&url)
        .json(&json!({"model": "nope/x", "messages": [{"role": "user", "content": "x"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = client()
        .post(&url)
        .json(&json!({"model": "sim/echo", "messages": [{"role": "wizard", "content": "x"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["param"],
        "messages[0].role"
    );
}

#[tokio::test]
async fn models_health_metrics_and_openapi() {
    let s = start().await;
    let models: Value = get(&s, "/v1/models").await.json().await.unwrap();
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][0]["id"], "sim/echo");
    assert_eq!(models["data"][0]["object"], "model");
    assert_eq!(models["data"][0]["available"], true);
    // The simulator's own $0 prices: in the table, but not LiteLLM's data (no version).
    assert_eq!(models["data"][0]["price_source"], "price_table");
    assert!(models["data"][0].get("price_version").is_none(), "{models}");
    let h: Value = get(&s, "/health").await.json().await.unwrap();
    assert_eq!(h["status"], "ok");
    // Drive one comparison so model metrics exist.
    let id = create_id(
        &s,
        None,
        json!({"prompt": "several words to echo", "models": ["sim/echo", "sim/error"]}),
    )
    .await;
    read_sse(&s, None, &id, None, 1000).await;
    let text = get(&s, "/metrics").await.text().await.unwrap();
    for m in [
        "llm_compare_http_requests_total",
        "llm_compare_active_comparisons",
        "llm_compare_stream_connections",
        "llm_compare_events_sent_total",
        "llm_compare_model_ttft_seconds_bucket",
        "llm_compare_model_latency_seconds_bucket",
        "llm_compare_model_output_tokens_per_second_bucket",
        "llm_compare_upstream_errors_total",
        "llm_compare_cost_pico_usd_total",
    ] {
        assert!(text.contains(m), "/metrics lacks {m}");
    }
    assert!(text.contains("code=\"bad_request\""));
    let doc: Value = get(&s, "/openapi.json").await.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for p in [
        "/v1/comparisons",
        "/v1/comparisons/{id}",
        "/v1/comparisons/{id}/stream",
        "/v1/comparisons/{id}/ws",
        "/v1/chat/completions",
        "/v1/models",
        "/health",
        "/ready",
        "/metrics",
        "/openapi.json",
    ] {
        assert!(doc["paths"].get(p).is_some(), "openapi lacks {p}");
    }
    assert!(
        doc["paths"]["/v1/comparisons"]["post"]["responses"]
            .get("429")
            .is_some()
    );
}

#[tokio::test]
async fn cors_lets_configured_browser_origins_in() {
    let s = start_with(
        ServerOptions {
            cors_origins: vec!["https://app.example.com".into()],
            ..ServerOptions::default()
        },
        sim_config(),
    )
    .await;
    let r = client()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/v1/comparisons", s.url),
        )
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,authorization",
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let r = create(&s, None, json!({"prompt": "x", "models": ["sim/echo"]})).await;
    assert_eq!(r.status(), 201);
    let r = client()
        .post(format!("{}/v1/comparisons", s.url))
        .header("origin", "https://evil.example.com")
        .json(&json!({"prompt": "x", "models": ["sim/echo"]}))
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn the_web_ui_is_embedded_public_and_revalidated() {
    // Keys configured: the page itself needs none (it asks for one), the API still does.
    let s = start_with(keyed(), sim_config()).await;
    let page = get(&s, "/").await;
    assert_eq!(page.status(), StatusCode::OK);
    let h = page.headers().clone();
    assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"));
    assert_eq!(h["x-content-type-options"], "nosniff");
    let html = page.text().await.unwrap();
    assert!(html.contains("/ui/app.js") && html.contains("/ui/vendor/marked.js"));
    assert!(!html.contains("https://"), "no CDN");
    for (path, ty) in [
        ("/ui/app.js", "text/javascript"),
        ("/ui/app.css", "text/css"),
        ("/ui/vendor/highlight.js", "text/javascript"),
        ("/ui/vendor/purify.js", "text/javascript"),
        ("/ui/vendor/highlight.css", "text/css"),
        ("/ui/icon.svg", "image/svg+xml"),
    ] {
        let r = get(&s, path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(ty)
        );
        let etag = r.headers()["etag"].clone();
        assert!(!r.bytes().await.unwrap().is_empty());
        let again = client()
            .get(format!("{}{path}", s.url))
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
    }
    let missing = get(&s, "/ui/../Cargo.toml").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(get(&s, "/ui/nope.js").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        get(&s, "/v1/models").await.status(),
        StatusCode::UNAUTHORIZED
    );

    // `--no-ui`: the API only.
    let api_only = start_with(
        ServerOptions {
            ui: false,
            ..ServerOptions::default()
        },
        sim_config(),
    )
    .await;
    assert_eq!(get(&api_only, "/").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        get(&api_only, "/ui/app.js").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn attachments_and_structured_output_over_http() {
    let s = start().await;
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
    // `prompt` + `attachments`: the parts join the prompt's message; the answers are judged
    // as JSON (sim/echo repeats the prompt, JSON here; sim/lorem answers prose).
    let id = create_id(
        &s,
        None,
        json!({
            "prompt": "{\"ok\": true}",
            "attachments": [{"type": "image", "media_type": "image/png", "data": png}],
            "models": ["sim/echo", "sim/lorem"],
            "response_format": {"type": "json_object"},
        }),
    )
    .await;
    let events = read_sse(&s, None, &id, None, 1000).await;
    let results = &events.last().unwrap().2["results"];
    assert_eq!(results[0]["text"], "{\"ok\": true}");
    assert_eq!(results[0]["structured"], json!({"valid": true}));
    assert_eq!(results[1]["structured"]["valid"], false, "{results}");
    // Attachments go with a prompt; a bad one names its part.
    let r = create(
        &s,
        None,
        json!({"prompt": "x", "models": ["sim/echo"], "attachments": [{"type": "image", "media_type": "image/png", "data": "bm90IGEgcG5n"}]}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(
        e["error"]["field"], "messages[0].content[1].media_type",
        "{e}"
    );
}

/// `multipart/form-data`: the comparison's JSON in `request`, files as attachments (what a
/// browser form uploads).
#[tokio::test]
async fn a_multipart_form_uploads_files_as_attachments() {
    let s = start().await;
    let png = [
        0x89u8, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52,
    ];
    let form = |request: &str, file: (&str, &[u8])| {
        let mut b: Vec<u8> = Vec::new();
        b.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"request\"\r\n\r\n");
        b.extend_from_slice(request.as_bytes());
        b.extend_from_slice(
            format!("\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\nContent-Type: application/octet-stream\r\n\r\n", file.0).as_bytes(),
        );
        b.extend_from_slice(file.1);
        b.extend_from_slice(b"\r\n--XyZ--\r\n");
        b
    };
    let post = |body: Vec<u8>| {
        client()
            .post(format!("{}/v1/comparisons", s.url))
            .header("content-type", "multipart/form-data; boundary=XyZ")
            .body(body)
            .send()
    };
    let r = post(form(
        r#"{"prompt": "what is this", "models": ["sim/echo"]}"#,
        ("dot.png", &png),
    ))
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let events = read_sse(&s, None, &id, None, 1000).await;
    assert_eq!(
        events.last().unwrap().2["results"][0]["text"],
        "what is this"
    );
    // A file that is no image, PDF or text is named by its field; a form without `request`
    // says what it lacks.
    let r = post(form(
        r#"{"prompt": "x", "models": ["sim/echo"]}"#,
        ("x.bin", &[0xff, 0xfe, 0]),
    ))
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["field"], "file");
    let r = post(
        b"--XyZ\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--XyZ--\r\n".to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["field"],
        "request"
    );
}

/// An agent comparison over HTTP: a tool of the server's configuration (`[tools.*]`, an HTTP
/// tool on a loopback mock) named in `tools`; `sim/agent` calls it and answers with its
/// result, `sim/echo` beside it answers as usual; bad names are 400s naming the entry.
#[tokio::test]
async fn a_comparison_naming_a_server_tool_runs_each_models_loop() {
    use wiremock::matchers::{body_json, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let tool = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/weather"))
        .and(body_json(json!({"city": "weather in Paris"})))
        .respond_with(ResponseTemplate::new(200).set_body_json("21 °C and sunny"))
        .expect(1)
        .mount(&tool)
        .await;
    let config = llm_compare_core::Config::parse(&format!(
        "[sim]\nttft_ms = 5\ntokens_per_s = 0\n\
         [tools.get_weather]\nurl = \"{}/weather\"\ndescription = \"The weather in a city\"\n\
         parameters = {{ type = \"object\", properties = {{ city = {{ type = \"string\" }} }}, required = [\"city\"] }}\n",
        tool.uri()
    ))
    .unwrap();
    let engine = config.engine().unwrap();
    let sim = std::sync::Arc::new(llm_compare_core::SimProvider::new(sim_config()));
    let s = start_state(
        llm_compare_http::AppState::with_store(
            engine,
            llm_compare_http::ServerOptions::default(),
            None,
        ),
        sim,
    )
    .await;
    let id = create_id(
        &s,
        None,
        json!({"prompt": "weather in Paris", "models": ["sim/agent", "sim/echo"], "tools": ["get_weather"], "max_steps": 3}),
    )
    .await;
    let events = read_sse(&s, None, &id, None, 1000).await;
    let of =
        |t: &str| -> Vec<&Value> { events.iter().filter(|e| e.1 == t).map(|e| &e.2).collect() };
    let results = of("tool_result");
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["model_index"], 0);
    assert_eq!(results[0]["name"], "get_weather");
    assert_eq!(results[0]["content"], "21 °C and sunny");
    assert_eq!(of("step").len(), 1);
    let done = &events.last().unwrap().2;
    assert_eq!(
        done["results"][0]["text"],
        "`get_weather` returned: 21 °C and sunny"
    );
    assert_eq!(done["results"][0]["steps"], 2);
    assert_eq!(done["results"][1]["text"], "weather in Paris");
    assert!(done["results"][1].get("steps").is_none());

    for (body, field) in [
        (
            json!({"prompt": "x", "models": ["sim/agent"], "tools": ["nope"]}),
            "tools[0]",
        ),
        (
            json!({"prompt": "x", "models": ["sim/agent"], "tools": [{"type": "function", "function": {"name": "f"}}, "get_weather", "nope"]}),
            "tools[2]",
        ),
        (
            json!({"prompt": "x", "models": ["sim/agent"], "tools": [7]}),
            "tools[0]",
        ),
        (
            json!({"prompt": "x", "models": ["sim/agent"], "max_steps": 2}),
            "max_steps",
        ),
        (
            json!({"prompt": "x", "models": ["sim/agent"], "tools": ["get_weather"], "max_steps": 0}),
            "max_steps",
        ),
    ] {
        let r = create(&s, None, body.clone()).await;
        assert_eq!(r.status(), 400, "{body}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["field"], field, "{e}");
    }
}

/// `tool_mode: "shared"` over HTTP: three models asking the same get one execution (two
/// replays); the comparison's cassette replays in a later one with no execution at all.
#[tokio::test]
async fn shared_tools_execute_once_and_a_cassette_replays_without_executing() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let tool = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/weather"))
        .respond_with(ResponseTemplate::new(200).set_body_string("rain"))
        .mount(&tool)
        .await;
    let config = llm_compare_core::Config::parse(&format!(
        "[sim]\nttft_ms = 5\ntokens_per_s = 0\n\
         [tools.get_weather]\nurl = \"{}/weather\"\ndescription = \"The weather\"\n\
         parameters = {{ type = \"object\", properties = {{ city = {{ type = \"string\" }} }}, required = [\"city\"] }}\n",
        tool.uri()
    ))
    .unwrap();
    let sim = std::sync::Arc::new(llm_compare_core::SimProvider::new(sim_config()));
    let s = start_state(
        llm_compare_http::AppState::with_store(
            config.engine().unwrap(),
            llm_compare_http::ServerOptions::default(),
            None,
        ),
        sim,
    )
    .await;
    let models = ["sim/agent", "sim/agent", "sim/agent"];
    let id = create_id(
        &s,
        None,
        json!({"prompt": "Oslo", "models": models, "tools": ["get_weather"], "tool_mode": "shared"}),
    )
    .await;
    let events = read_sse(&s, None, &id, None, 1000).await;
    let results: Vec<&Value> = events
        .iter()
        .filter(|e| e.1 == "tool_result")
        .map(|e| &e.2)
        .collect();
    assert_eq!(results.len(), 3);
    assert_eq!(results.iter().filter(|r| r["replayed"] == true).count(), 2);
    assert_eq!(
        tool.received_requests().await.unwrap().len(),
        1,
        "one execution"
    );

    let cassette = json(client().get(format!("{}/v1/comparisons/{id}/cassette", s.url))).await;
    assert_eq!(
        cassette,
        json!([{"tool": "get_weather", "arguments": {"city": "Oslo"}, "content": "rain", "is_error": false}])
    );
    let id = create_id(
        &s,
        None,
        json!({"prompt": "Oslo", "models": ["sim/agent"], "tools": ["get_weather"], "cassette": cassette}),
    )
    .await;
    let events = read_sse(&s, None, &id, None, 1000).await;
    let done = &events.last().unwrap().2;
    assert_eq!(done["results"][0]["text"], "`get_weather` returned: rain");
    assert_eq!(
        tool.received_requests().await.unwrap().len(),
        1,
        "replaying executes nothing"
    );
    let r = create(
        &s,
        None,
        json!({"prompt": "x", "models": ["sim/echo"], "tool_mode": "shared"}),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["field"],
        "tool_mode"
    );
}

/// Client-side tools: each model's call goes out as an `action` event; the client POSTs the
/// results to `…/tool_results` and each model's loop goes on with its own. Results naming a
/// call that is not waiting are refused whole (409, nothing delivered); bad bodies are 400s
/// naming the field; a result that never comes is an error result at the tool timeout.
#[tokio::test]
async fn client_side_tools_go_out_as_actions_and_their_posted_results_reach_each_model() {
    let s = start().await;
    let lookup = json!({"type": "function", "function": {"name": "lookup", "description": "Looks a word up",
        "parameters": {"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]}}});
    let id = create_id(
        &s,
        None,
        json!({"prompt": "tea", "models": ["sim/agent", "sim/agent", "sim/echo"], "client_tools": [lookup], "tool_timeout_s": 20}),
    )
    .await;
    let resp = client()
        .get(format!("{}/v1/comparisons/{id}/stream", s.url))
        .send()
        .await
        .unwrap();
    let mut events = resp.bytes_stream().eventsource();
    let mut actions = Vec::new();
    let mut seen = Vec::new();
    while actions.len() < 2 {
        let ev = events.next().await.unwrap().unwrap();
        let data: Value = serde_json::from_str(&ev.data).unwrap();
        if ev.event == "action" {
            actions.push(data.clone());
        }
        seen.push((ev.event, data));
    }
    for a in &actions {
        assert_eq!(a["name"], "lookup");
        assert_eq!(a["arguments"], json!({"word": "tea"}));
        assert_eq!(a["timeout_ms"], 20_000);
    }
    let post = |body: Value| {
        client()
            .post(format!("{}/v1/comparisons/{id}/tool_results", s.url))
            .json(&body)
            .send()
    };
    let result = |a: &Value, text: &str| json!({"model_index": a["model_index"], "call_id": a["call_id"], "content": text});
    // One good result and one for a call never made: refused whole, naming the bad one.
    let r = post(json!({"results": [result(&actions[0], "a drink"), {"model_index": 2, "call_id": "nope", "content": "x"}]}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("results[1]"),
        "{body}"
    );
    // Bad bodies name the field.
    let r = post(json!({"results": [{"model_index": 0, "content": "x"}]}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("call_id"),
        "{body}"
    );
    let r = post(json!({"results": []})).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Each model gets its own result.
    let r = post(
        json!({"results": [result(&actions[0], "a drink"), result(&actions[1], "a hot drink")]}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["accepted"], 2);
    // Answered already: a second delivery is refused.
    let r = post(json!({"results": [result(&actions[0], "again")]}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    while let Some(ev) = events.next().await {
        let ev = ev.unwrap();
        seen.push((ev.event, serde_json::from_str(&ev.data).unwrap()));
    }
    let done = &seen.last().unwrap().1;
    assert_eq!(done["status"], "completed", "{done}");
    let text =
        |a: &Value| done["results"][a["model_index"].as_u64().unwrap() as usize]["text"].clone();
    assert_eq!(text(&actions[0]), "`lookup` returned: a drink");
    assert_eq!(text(&actions[1]), "`lookup` returned: a hot drink");
    assert_eq!(done["results"][2]["text"], "tea");
    let tool_results: Vec<&Value> = seen
        .iter()
        .filter(|e| e.0 == "tool_result")
        .map(|e| &e.1)
        .collect();
    assert_eq!(tool_results.len(), 2);
    // Finished: nothing waits any more.
    let r = post(json!({"results": [result(&actions[0], "late")]}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);

    // A result that never comes: the model gets an error result at the timeout and ends.
    let id = create_id(
        &s,
        None,
        json!({"prompt": "tea", "models": ["sim/agent"], "client_tools": [lookup], "tool_timeout_s": 1}),
    )
    .await;
    let events = read_sse(&s, None, &id, None, 1000).await;
    let r = &events.iter().find(|e| e.1 == "tool_result").unwrap().2;
    assert_eq!(r["is_error"], true);
    assert!(
        r["content"]
            .as_str()
            .unwrap()
            .contains("did not answer within 1 s"),
        "{r}"
    );
    assert_eq!(events.last().unwrap().2["status"], "completed");

    // Bad client tools are 400s naming the entry.
    for (body, field) in [
        (
            json!({"prompt": "x", "models": ["sim/agent"], "client_tools": [lookup, lookup]}),
            "client_tools[1]",
        ),
        (
            json!({"prompt": "x", "models": ["sim/agent"], "client_tools": [{"type": "function", "function": {"name": "f", "parameters": 3}}]}),
            "client_tools[0].function.parameters",
        ),
        (
            json!({"prompt": "x", "models": ["sim/agent"], "client_tools": [lookup], "tool_timeout_s": 0}),
            "tool_timeout_s",
        ),
        (
            json!({"prompt": "x", "models": ["sim/agent"], "tool_timeout_s": 5}),
            "tool_timeout_s",
        ),
    ] {
        let r = create(&s, None, body).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let b: Value = r.json().await.unwrap();
        assert_eq!(b["error"]["field"], field, "{b}");
    }
}
