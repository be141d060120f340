//! The abuse suite: each test sends a hostile request (docs/security.md lists them), asserts
//! the typed refusal — the limit named, its value, its setting — that nothing changed, and
//! that the server then still serves a normal comparison.

use crate::common;

use std::time::Duration;

use common::*;
use llm_compare_http::{AppState, ServerOptions};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The process's resident memory, bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// A server with `tune` applied to the default options.
async fn start_tuned(tune: impl FnOnce(&mut ServerOptions)) -> Server {
    let mut options = ServerOptions::default();
    tune(&mut options);
    start_with(options, sim_config()).await
}

/// A server with a SQLite store of its own, the store's URL and directory (kept while the
/// test runs).
async fn stored(options: ServerOptions) -> (Server, std::path::PathBuf, String) {
    let (dir, url) = sqlite_url();
    let store = llm_compare_service::SqlStore::open(&url).await.unwrap();
    (
        start_stored(options, sim_config(), Some(store)).await,
        dir,
        url,
    )
}

/// A comparison of `sim/echo` runs to its end: the server still serves.
async fn still_serves(s: &Server, key: Option<&str>) {
    let id = create_id(
        s,
        key,
        json!({"prompt": "still there?", "models": ["sim/echo"]}),
    )
    .await;
    let events = read_sse(s, key, &id, None, 1000).await;
    let last = events.last().unwrap();
    assert_eq!(last.1, "complete", "{events:?}");
    assert!(last.2["results"][0]["error"].is_null(), "{last:?}");
    assert_eq!(last.2["results"][0]["text"], "still there?", "{last:?}");
}

/// The error body of a refusal, with its status.
async fn refusal(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    (status, r.json().await.unwrap())
}

fn eval_body(rows: &str, name: &str, template: Option<&str>, repeat: u32) -> Value {
    json!({
        "dataset": {"name": name, "content": rows},
        "models": ["sim/echo"],
        "prompt_template": template,
        "repeat": repeat,
    })
}

/// Issue 45: 200,000 one-line rows and a 1,000-character template were taken whole (201,
/// `units: 200000`, RSS 82 → 448 MB before a row ran). Now the dataset is refused at its
/// first row past `eval_max_rows`, nothing is created, and memory stays flat.
#[tokio::test]
async fn a_dataset_past_the_row_limit_is_refused_at_its_line_and_costs_no_memory() {
    let (s, _, _) = stored(ServerOptions::default()).await;
    let rows: String = (0..200_000)
        .map(|i| format!("{{\"vars\": {{\"q\": \"question {i}\"}}}}\n"))
        .collect();
    let template = format!("{} {{{{q}}}}", "x".repeat(1000));
    let body = eval_body(&rows, "big.jsonl", Some(&template), 1);
    let before = rss();
    let r = call(&s, reqwest::Method::POST, "/v1/evals", None, Some(body)).await;
    let (status, body) = refusal(r).await;
    let grew = rss().saturating_sub(before);
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "limit_exceeded", "{body}");
    assert_eq!(body["error"]["field"], "dataset");
    assert_eq!(body["error"]["limit"]["name"], "eval_max_rows");
    assert_eq!(body["error"]["limit"]["value"], 10_000);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("big.jsonl line 10001 is row 10001"),
        "{message}"
    );
    assert!(message.contains("[server.limits]"), "{message}");
    // The body itself (~6 MB as JSON, held twice by the client and the server) and 10,000
    // rendered rows of ~1 KB: far under what 200,000 took.
    assert!(grew < 96 << 20, "RSS grew {} MiB", grew >> 20);
    let runs = json(client().get(format!("{}/v1/evals", s.url))).await;
    assert_eq!(runs["runs"], json!([]), "nothing was created: {runs}");
    still_serves(&s, None).await;
}

/// Rows × repeat, and one rendered prompt, are bounded too; a template that repeats a long
/// variable is refused before it is built whole.
#[tokio::test]
async fn rows_times_repeat_and_a_rendered_prompt_are_bounded() {
    let s = start().await;
    let rows: String = (0..10_000)
        .map(|i| format!("{{\"prompt\": \"p{i}\"}}\n"))
        .collect();
    let r = call(
        &s,
        reqwest::Method::POST,
        "/v1/evals",
        None,
        Some(eval_body(&rows, "d.jsonl", None, 3)),
    )
    .await;
    let (status, body) = refusal(r).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["limit"]["name"], "eval_max_units", "{body}");
    assert_eq!(body["error"]["field"], "repeat");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("10000 rows × repeat 3 = 30000"),
        "{body}"
    );
    let template = "{{q}}".repeat(20_000);
    let row = format!("{{\"vars\": {{\"q\": \"{}\"}}}}\n", "y".repeat(100));
    let r = call(
        &s,
        reqwest::Method::POST,
        "/v1/evals",
        None,
        Some(eval_body(&row, "d.jsonl", Some(&template), 1)),
    )
    .await;
    let (status, body) = refusal(r).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["error"]["limit"]["name"], "eval_max_prompt_bytes",
        "{body}"
    );
    assert_eq!(body["error"]["limit"]["value"], 1 << 20);
    still_serves(&s, None).await;
}

/// One user runs at most `eval_runs_per_user` evaluations at once; a third is refused until
/// one ends.
#[tokio::test]
async fn one_user_runs_at_most_two_evaluations_at_once() {
    let s = start().await;
    let slow = json!({
        "dataset": {"name": "d.jsonl", "content": "{\"prompt\": \"wait\"}\n"},
        "models": ["sim/slow"],
    });
    let mut ids = Vec::new();
    for _ in 0..2 {
        let r = call(
            &s,
            reqwest::Method::POST,
            "/v1/evals",
            None,
            Some(slow.clone()),
        )
        .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        ids.push(
            r.json::<Value>().await.unwrap()["run_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let r = call(
        &s,
        reqwest::Method::POST,
        "/v1/evals",
        None,
        Some(slow.clone()),
    )
    .await;
    let (status, body) = refusal(r).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["error"]["limit"]["name"], "eval_runs_per_user",
        "{body}"
    );
    assert_eq!(body["error"]["limit"]["value"], 2);
    let r = call(
        &s,
        reqwest::Method::DELETE,
        &format!("/v1/evals/{}", ids[0]),
        None,
        None,
    )
    .await;
    assert!(r.status().is_success(), "{}", r.status());
    // The cancel is seen once the run's task ends it: wait for its `cancelled` event.
    let mut stream = client()
        .get(format!("{}/v1/evals/{}/stream", s.url, ids[0]))
        .send()
        .await
        .unwrap();
    let mut seen = String::new();
    while let Some(chunk) = stream.chunk().await.unwrap() {
        seen.push_str(&String::from_utf8_lossy(&chunk));
        if seen.contains("cancelled") {
            break;
        }
    }
    drop(stream);
    let r = call(&s, reqwest::Method::POST, "/v1/evals", None, Some(slow)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

/// Issue 45: a cross-site `multipart/form-data` POST (no preflight in a browser) created a
/// comparison, and `Host: evil.example` read everything (DNS rebinding). Now both are 403,
/// and nothing is created.
#[tokio::test]
async fn a_cross_site_form_post_a_websocket_and_a_rebound_host_are_refused() {
    let (s, _, _) = stored(ServerOptions::default()).await;
    // A form as a browser posts it (written out: the test client has no multipart feature).
    let form = |r: reqwest::RequestBuilder| {
        let request = json!({"prompt": "hi", "models": ["sim/echo"]}).to_string();
        r.header("content-type", "multipart/form-data; boundary=XyZ").body(format!(
            "--XyZ\r\ncontent-disposition: form-data; name=\"request\"\r\n\r\n{request}\r\n--XyZ--\r\n"
        ))
    };
    let r = form(
        client()
            .post(format!("{}/v1/comparisons", s.url))
            .header("origin", "http://evil.example"),
    )
    .send()
    .await
    .unwrap();
    let (status, body) = refusal(r).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cors_origins"),
        "{body}"
    );
    // Without Origin, a browser's Sec-Fetch-Site says the same.
    let r = form(
        client()
            .post(format!("{}/v1/comparisons", s.url))
            .header("sec-fetch-site", "cross-site"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = client()
        .get(format!("{}/v1/comparisons", s.url))
        .header("host", "evil.example:8080")
        .send()
        .await
        .unwrap();
    let (status, body) = refusal(r).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("allowed_hosts"),
        "{body}"
    );
    let listed = json(client().get(format!("{}/v1/comparisons", s.url))).await;
    assert_eq!(
        listed["comparisons"],
        json!([]),
        "nothing was created: {listed}"
    );
    // A WebSocket from another origin: refused before the upgrade.
    let id = create_id(&s, None, json!({"prompt": "hi", "models": ["sim/echo"]})).await;
    let ws_url = format!(
        "{}/v1/comparisons/{id}/ws",
        s.url.replace("http://", "ws://")
    );
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
            ws_url.as_str(),
        )
        .unwrap();
    request
        .headers_mut()
        .insert("origin", "http://evil.example".parse().unwrap());
    let err = tokio_tungstenite::connect_async(request).await.unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");
    // The page's own origin, and clients that are not browsers, go on as before.
    let r = form(
        client()
            .post(format!("{}/v1/comparisons", s.url))
            .header("origin", s.url.as_str()),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    still_serves(&s, None).await;
}

/// A client that sends its headers a byte at a time is cut off at `header_read_timeout`
/// (it held a socket and a task for as long as it liked).
#[tokio::test]
async fn a_client_trickling_its_headers_is_cut_off() {
    let s = start_tuned(|o| o.header_read_timeout = Duration::from_millis(500)).await;
    let addr = s.url.trim_start_matches("http://").to_string();
    let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut rd, mut wr) = tcp.into_split();
    let request = format!(
        "GET /health HTTP/1.1\r\nhost: {addr}\r\nx-slow: {}\r\n\r\n",
        "z".repeat(100)
    );
    // A byte every 100 ms: the headers would take ~14 s.
    let writer = tokio::spawn(async move {
        for b in request.into_bytes() {
            if wr.write_all(&[b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut buf = vec![0u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(10), rd.read(&mut buf))
        .await
        .expect("the connection is still open after 10 s");
    match read {
        Ok(0) | Err(_) => {}
        Ok(n) => {
            let answer = String::from_utf8_lossy(&buf[..n]);
            assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        }
    }
    assert!(
        !writer.is_finished(),
        "cut off before its headers were sent"
    );
    writer.abort();
    still_serves(&s, None).await;
}

/// Connections past `max_connections_per_client` get a typed 429 naming the limit, and the
/// client's slots come back when its connections close.
#[tokio::test]
async fn connections_past_the_per_client_cap_are_refused_with_the_limit() {
    let s = start_tuned(|o| o.max_connections_per_client = 4).await;
    let addr = s.url.trim_start_matches("http://").to_string();
    let mut open = Vec::new();
    for _ in 0..4 {
        open.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    let mut fifth = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), fifth.read_to_string(&mut answer))
        .await
        .expect("the fifth connection was neither answered nor closed")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    let body: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["error"]["limit"]["name"], "max_connections_per_client");
    assert_eq!(body["error"]["limit"]["value"], 4);
    drop(open);
    // The four slots come back as the server sees the connections close.
    let mut served = false;
    for _ in 0..100 {
        if let Ok(r) = client().get(format!("{}/health", s.url)).send().await
            && r.status() == StatusCode::OK
        {
            served = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(served);
    still_serves(&s, None).await;
}

/// Issue 45: `Error::Internal(format!("database: {e}"))` reached clients. Now a client is
/// told the request id its details are logged under, never the source.
#[tokio::test]
async fn an_internal_error_tells_the_request_id_not_its_source() {
    let (s, _, url) = stored(ServerOptions::default()).await;
    let id = create_id(&s, None, json!({"prompt": "hi", "models": ["sim/echo"]})).await;
    read_sse(&s, None, &id, None, 1000).await;
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    // The final row is written before `complete` is sent; a corrupt status is a typed
    // internal error on read.
    sqlx::query("UPDATE comparisons SET status = 'bogus' WHERE id = ?")
        .bind(&id)
        .execute(&pool)
        .await
        .unwrap();
    let r = client()
        .get(format!("{}/v1/comparisons", s.url))
        .send()
        .await
        .unwrap();
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let (status, body) = refusal(r).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(body["error"]["code"], "internal");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(&request_id), "{message}");
    assert!(
        !message.contains("bogus") && !message.contains("comparisons"),
        "{message}"
    );
    sqlx::query("UPDATE comparisons SET status = 'completed' WHERE id = ?")
        .bind(&id)
        .execute(&pool)
        .await
        .unwrap();
    still_serves(&s, None).await;
}

/// A configured fallback outside a key's allow-list would call a model the key may not use:
/// the request is refused before anything runs.
#[tokio::test]
async fn a_fallback_outside_the_keys_allow_list_is_refused() {
    let (_dir, url) = sqlite_url();
    let secret = mint_key(
        &url,
        llm_compare_service::keys::CreateKey {
            user: "carol".into(),
            models: Some(vec!["sim/flaky".into(), "sim/echo".into()]),
            ..Default::default()
        },
    )
    .await;
    let config =
        llm_compare_core::Config::parse("[models.\"sim/flaky\"]\nfallbacks = [\"sim/lorem\"]\n")
            .unwrap();
    let engine = config.engine().unwrap();
    let store = llm_compare_service::SqlStore::open(&url).await.unwrap();
    let state = AppState::with_store(engine, ServerOptions::default(), Some(store));
    let s = start_state(
        state,
        std::sync::Arc::new(llm_compare_core::SimProvider::new(sim_config())),
    )
    .await;
    let r = create(
        &s,
        Some(&secret),
        json!({"prompt": "hi", "models": ["sim/flaky"]}),
    )
    .await;
    let (status, body) = refusal(r).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "model_not_allowed");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("sim/lorem") && message.contains("fallback"),
        "{message}"
    );
    still_serves(&s, Some(&secret)).await;
}

/// Issue 45: every made-up model name became new Prometheus series. A name outside the
/// configuration and the price table earns a label only when its call answers (at most 100
/// such); made-up names fold into `model="other"`.
#[tokio::test]
async fn made_up_model_names_fold_into_other_in_metrics() {
    // Each unknown name is a model of a provider that answers nothing (a closed port), so
    // every call fails at once and is counted.
    let config = llm_compare_core::Config::parse(
        "[providers.nowhere]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\napi_key = \"k\"\n\
         [defaults]\nretries = 0\n",
    )
    .unwrap();
    let engine = config.engine().unwrap();
    let mut options = ServerOptions::default();
    options.registry.max_active_per_owner = 1000;
    let s = start_state(
        AppState::new(engine, options),
        std::sync::Arc::new(llm_compare_core::SimProvider::new(sim_config())),
    )
    .await;
    let tag = uuid::Uuid::now_v7().simple().to_string();
    for batch in 0..20 {
        let models: Vec<String> = (0..8)
            .map(|i| format!("nowhere/junk-{tag}-{}", batch * 8 + i))
            .collect();
        let id = create_id(&s, None, json!({"prompt": "hi", "models": models})).await;
        read_sse(&s, None, &id, None, 1000).await;
    }
    let metrics = get(&s, "/metrics").await.text().await.unwrap();
    let named: std::collections::HashSet<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("llm_compare_model_latency_seconds_count{"))
        .filter_map(|l| l.split("model=\"").nth(1)?.split('"').next())
        .filter(|m| m.contains(&tag) || *m == "other")
        .collect();
    // 160 names, every call failed: none has a series of its own.
    assert!(named.contains("other"), "{named:?}");
    assert_eq!(named.len(), 1, "{named:?}");
    still_serves(&s, None).await;
}

/// Issue 45: each distinct unknown secret cost a database query, unauthenticated and without
/// limit. Past `failed_auth_per_minute` failures an address gets 429 and no more look-ups,
/// while a key the server knows still works from it.
#[tokio::test]
async fn failed_authentications_are_limited_per_address_without_locking_out_known_keys() {
    let (_dir, url) = sqlite_url();
    let secret = mint_key(
        &url,
        llm_compare_service::keys::CreateKey {
            user: "dave".into(),
            ..Default::default()
        },
    )
    .await;
    let store = llm_compare_service::SqlStore::open(&url).await.unwrap();
    let s = start_stored(
        ServerOptions {
            failed_auth_per_minute: 5,
            ..ServerOptions::default()
        },
        sim_config(),
        Some(store),
    )
    .await;
    // Known to the server (cached) before the flood.
    assert_eq!(
        call(
            &s,
            reqwest::Method::GET,
            "/v1/keys/self",
            Some(&secret),
            None
        )
        .await
        .status(),
        StatusCode::OK
    );
    for i in 0..5 {
        let r = call(
            &s,
            reqwest::Method::GET,
            "/v1/usage",
            Some(&format!("lcsk_wrong{i}")),
            None,
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let r = call(
        &s,
        reqwest::Method::GET,
        "/v1/usage",
        Some("lcsk_wrong-again"),
        None,
    )
    .await;
    assert!(r.headers().contains_key("retry-after"));
    let (status, body) = refusal(r).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("failed_auth_per_minute"),
        "{body}"
    );
    still_serves(&s, Some(&secret)).await;
}

/// Issue 45: every key could run every configured tool. A key minted now runs none unless
/// granted (`tools`); an admin key runs every one.
#[tokio::test]
async fn a_key_runs_only_the_tools_it_is_granted() {
    let (_dir, url) = sqlite_url();
    let plain = mint_key(
        &url,
        llm_compare_service::keys::CreateKey {
            user: "erin".into(),
            ..Default::default()
        },
    )
    .await;
    let granted = mint_key(
        &url,
        llm_compare_service::keys::CreateKey {
            user: "erin".into(),
            tools: Some(vec!["look*".into()]),
            ..Default::default()
        },
    )
    .await;
    let config = llm_compare_core::Config::parse(
        "[tools.lookup]\nurl = \"http://127.0.0.1:9/\"\ndescription = \"Looks a word up\"\n",
    )
    .unwrap();
    let engine = config.engine().unwrap();
    let store = llm_compare_service::SqlStore::open(&url).await.unwrap();
    let state = AppState::with_store(engine, ServerOptions::default(), Some(store));
    let s = start_state(
        state,
        std::sync::Arc::new(llm_compare_core::SimProvider::new(sim_config())),
    )
    .await;
    let body = json!({"prompt": "hi", "models": ["sim/echo"], "tools": ["lookup"], "max_steps": 1});
    let (status, error) = refusal(create(&s, Some(&plain), body.clone()).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{error}");
    assert_eq!(error["error"]["code"], "forbidden");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("`lookup`") && message.contains("tools[0]"),
        "{message}"
    );
    let listed = json(
        client()
            .get(format!("{}/v1/comparisons", s.url))
            .bearer_auth(&plain),
    )
    .await;
    assert_eq!(
        listed["comparisons"],
        json!([]),
        "nothing was created: {listed}"
    );
    let r = create(&s, Some(&granted), body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    still_serves(&s, Some(&plain)).await;
}

/// Issue 45: results a client hands back (client tools, a cassette to replay) skipped the
/// checks every attachment passes. A PNG that is not one is refused, naming where it is.
#[tokio::test]
async fn replayed_results_pass_the_attachment_checks() {
    let config = llm_compare_core::Config::parse(
        "[tools.lookup]\nurl = \"http://127.0.0.1:9/\"\ndescription = \"Looks a word up\"\n",
    )
    .unwrap();
    let s = start_state(
        AppState::new(config.engine().unwrap(), ServerOptions::default()),
        std::sync::Arc::new(llm_compare_core::SimProvider::new(sim_config())),
    )
    .await;
    let not_a_png = json!([{"type": "image", "media_type": "image/png", "data": "bm90IGEgcG5n"}]);
    let body = json!({
        "prompt": "hi", "models": ["sim/agent"], "tools": ["lookup"],
        "cassette": [{"tool": "lookup", "arguments": {}, "content": not_a_png}],
    });
    let (status, error) = refusal(create(&s, None, body).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let field = error["error"]["field"].as_str().unwrap_or_default();
    assert!(field.starts_with("cassette[0].content"), "{error}");
    still_serves(&s, None).await;
}

/// Issue 45: a filtered leaderboard read every voted answer and bootstrapped under one global
/// lock, and GET routes had no rate limit. Filtered boards are now computed off the lock,
/// kept by their parameters, and computed at most `leaderboards_per_minute` times per user.
#[tokio::test]
async fn filtered_leaderboards_are_kept_and_their_computations_limited() {
    let (s, _, _) = stored(ServerOptions {
        leaderboards_per_minute: 3,
        ..ServerOptions::default()
    })
    .await;
    for c in ["a", "b", "c"] {
        let r = get(
            &s,
            &format!("/v1/leaderboard?category={c}&style_control=true"),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = get(&s, "/v1/leaderboard?category=d").await;
    assert!(r.headers().contains_key("retry-after"));
    let (status, body) = refusal(r).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("leaderboards_per_minute"),
        "{body}"
    );
    // A board already computed, and the plain one, are served without counting.
    let r = get(&s, "/v1/leaderboard?category=a&style_control=true").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(get(&s, "/v1/leaderboard").await.status(), StatusCode::OK);
    still_serves(&s, None).await;
}

/// Issue 45: nothing capped the streams one user held open (each a socket, a task and a
/// reader). Past `max_streams_per_user` a stream is 429 naming the limit; closing one frees
/// its place.
#[tokio::test]
async fn a_user_holds_at_most_max_streams_open() {
    let s = start_tuned(|o| o.max_streams_per_user = 3).await;
    let id = create_id(&s, None, json!({"prompt": "wait", "models": ["sim/slow"]})).await;
    let url = format!("{}/v1/comparisons/{id}/stream", s.url);
    let http = client();
    let mut open = Vec::new();
    for _ in 0..3 {
        let r = http.get(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        open.push(r);
    }
    let (status, body) = refusal(http.get(&url).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["limit"]["name"], "max_streams_per_user");
    assert_eq!(body["error"]["limit"]["value"], 3);
    // A closed stream's place comes back once the server sees it go.
    drop(open.pop());
    let mut reopened = false;
    for _ in 0..2000 {
        if http.get(&url).send().await.unwrap().status() == StatusCode::OK {
            reopened = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(reopened);
    let r = call(
        &s,
        reqwest::Method::DELETE,
        &format!("/v1/comparisons/{id}"),
        None,
        None,
    )
    .await;
    assert!(r.status().is_success());
    drop(open);
    still_serves(&s, None).await;
}

/// Issue 45: there was no per-user storage quota for attachments. Past
/// `attachment_quota_bytes` a request carrying more is 507 `quota_exceeded` naming the quota,
/// and nothing is stored.
#[tokio::test]
async fn stored_attachments_are_bounded_by_a_quota_per_user() {
    let (s, _, _) = stored(ServerOptions {
        limits: llm_compare_service::Limits {
            attachment_quota_bytes: 100,
            ..Default::default()
        },
        ..ServerOptions::default()
    })
    .await;
    // A 1×1 PNG: 70 bytes.
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
    let body = json!({"prompt": "what is this", "models": ["sim/echo"],
        "attachments": [{"type": "image", "media_type": "image/png", "data": png}]});
    let first = create(&s, None, body.clone()).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let (status, error) = refusal(create(&s, None, body).await).await;
    assert_eq!(status.as_u16(), 507, "{error}");
    assert_eq!(error["error"]["code"], "quota_exceeded");
    assert_eq!(error["error"]["limit"]["name"], "attachment_quota_bytes");
    assert_eq!(error["error"]["limit"]["value"], 100);
    let listed = json(client().get(format!("{}/v1/comparisons", s.url))).await;
    assert_eq!(
        listed["comparisons"].as_array().unwrap().len(),
        1,
        "{listed}"
    );
    still_serves(&s, None).await;
}

/// A stream of a comparison that says nothing for `stream_idle_s` ends with a retryable
/// `timeout` notice (no id: a resume starts after the last real event) instead of holding
/// its socket and reader for as long as the comparison lasts.
#[tokio::test]
async fn a_stream_without_events_ends_at_its_idle_limit() {
    let s = start_tuned(|o| o.stream_idle = Duration::from_millis(300)).await;
    let id = create_id(&s, None, json!({"prompt": "wait", "models": ["sim/slow"]})).await;
    let events = tokio::time::timeout(Duration::from_secs(10), read_sse(&s, None, &id, None, 1000))
        .await
        .expect("the idle stream ended");
    let (_, kind, data) = events.last().unwrap();
    assert_eq!(kind, "error", "{events:?}");
    assert_eq!(data["code"], "timeout");
    assert_eq!(data["retryable"], true);
    // It carries the last real event's seq: a resume starts right after that.
    assert_eq!(data["seq"], events[events.len() - 2].2["seq"], "{events:?}");
    assert!(events.iter().all(|e| e.1 != "complete"));
    let r = call(
        &s,
        reqwest::Method::DELETE,
        &format!("/v1/comparisons/{id}"),
        None,
        None,
    )
    .await;
    assert!(r.status().is_success());
    still_serves(&s, None).await;
}
