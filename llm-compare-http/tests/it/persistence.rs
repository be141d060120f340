//! The server with a store, over HTTP: sessions, blind comparisons, votes and the
//! leaderboard, budgets (402) and usage.

use std::sync::Arc;
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures::StreamExt;
use llm_compare_core::{ModelPrice, PriceTable, SimConfig};
use llm_compare_http::{AppState, ServerOptions};
use llm_compare_service::BudgetSettings;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common;
use common::*;

const KEY: &str = "KEY-A";

fn options() -> ServerOptions {
    ServerOptions {
        api_keys: vec![("alice".into(), KEY.into()), ("bob".into(), "KEY-B".into())],
        ..ServerOptions::default()
    }
}

fn sim() -> SimConfig {
    SimConfig {
        ttft: Duration::from_millis(5),
        slow_ttft: Duration::from_secs(30),
        tokens_per_s: 200.0,
    }
}

/// A stored server whose price table gives `sim/lorem` a price and `sim/echo` a small
/// context window, and knows no other model.
async fn start(options: ServerOptions) -> Server {
    let (engine, sim) = sim_engine(sim());
    let mut prices = PriceTable::empty();
    prices.set("sim/lorem", ModelPrice::per_million("1", "2").unwrap());
    prices.set(
        "sim/echo",
        ModelPrice {
            max_input_tokens: Some(120),
            ..ModelPrice::default()
        },
    );
    let engine = engine.with_prices(Arc::new(prices));
    let state = AppState::with_store(engine, options, Some(sqlite_store().await));
    start_state(state, sim).await
}

async fn json_of(r: reqwest::Response, status: StatusCode) -> Value {
    let got = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(got, status, "{body}");
    body
}

async fn post(s: &Server, path: &str, body: Value) -> reqwest::Response {
    call(s, Method::POST, path, Some(KEY), Some(body)).await
}

async fn get_as(s: &Server, key: &str, path: &str) -> reqwest::Response {
    call(s, Method::GET, path, Some(key), None).await
}

async fn get_json(s: &Server, path: &str) -> Value {
    json_of(
        call(s, Method::GET, path, Some(KEY), None).await,
        StatusCode::OK,
    )
    .await
}

/// Starts a comparison and reads its stream to the end.
async fn run(s: &Server, body: Value) -> (Value, Vec<(Option<u64>, String, Value)>) {
    let created = json_of(post(s, "/v1/comparisons", body).await, StatusCode::CREATED).await;
    let id = created["request_id"].as_str().unwrap().to_string();
    let events = read_sse(s, Some(KEY), &id, None, 10_000).await;
    assert_eq!(events.last().unwrap().1, "complete");
    (created, events)
}

#[tokio::test]
async fn sessions_continue_with_each_models_history_trimmed_to_fit() {
    let s = start(options()).await;
    let session = json_of(
        post(
            &s,
            "/v1/sessions",
            json!({"models": ["sim/echo", "sim/lorem"], "title": "trip", "system": "be brief"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let sid = session["id"].as_str().unwrap();
    assert_eq!(session["turn_count"], 0);
    let long = "tell me about the mountains rivers lakes and forests of the north";
    let mut trimmed = Vec::new();
    for turn in 0..5 {
        let (created, events) = run(
            &s,
            json!({"session_id": sid, "prompt": format!("{turn} {long}"), "params": {"max_tokens": 8}}),
        )
        .await;
        assert_eq!(created["models"], json!(["sim/echo", "sim/lorem"]));
        trimmed.push(created["history_trimmed"][0].as_u64().unwrap());
        let complete = &events.last().unwrap().2;
        assert_eq!(
            complete["results"][0]["history_trimmed"]
                .as_u64()
                .unwrap_or(0),
            trimmed[turn]
        );
        // sim/lorem has a large window: never trimmed.
        assert_eq!(created["history_trimmed"][1], 0);
    }
    assert_eq!(trimmed[0], 0);
    assert!(
        *trimmed.last().unwrap() > 0,
        "a 120-token window cannot hold 4 earlier turns: {trimmed:?}"
    );
    // The session with its turns, answers and a vote.
    let turns = get_json(&s, &format!("/v1/sessions/{sid}")).await;
    assert_eq!(turns["turn_count"], 5);
    let list = turns["turns"].as_array().unwrap();
    assert_eq!(list.len(), 5);
    assert!(list[0]["prompt"].as_str().unwrap().starts_with("0 "));
    assert_eq!(list[0]["models"][0]["model"], "sim/echo");
    assert_eq!(list[0]["session_id"], sid);
    let first = list[0]["request_id"].as_str().unwrap();
    json_of(
        post(
            &s,
            &format!("/v1/comparisons/{first}/preference"),
            json!({"winner": 1}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let turns = get_json(&s, &format!("/v1/sessions/{sid}")).await;
    assert_eq!(turns["turns"][0]["preference"]["winner"], 1);

    // Bad continuations name the field.
    for (body, field) in [
        (json!({"session_id": "nope", "prompt": "x"}), "session_id"),
        (json!({"session_id": sid}), "prompt"),
        (
            json!({"session_id": sid, "prompt": "x", "models": ["sim/echo"]}),
            "models",
        ),
        (
            json!({"session_id": sid, "messages": [{"role": "user", "content": "x"}]}),
            "messages",
        ),
        (
            json!({"session_id": sid, "prompt": "x", "system": "y"}),
            "system",
        ),
    ] {
        let e = json_of(
            post(&s, "/v1/comparisons", body).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(e["error"]["field"], field, "{e}");
    }
    let e = json_of(
        post(&s, "/v1/sessions", json!({"models": []})).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(e["error"]["field"], "models");
    // Another user sees nothing.
    let r = call(
        &s,
        Method::GET,
        &format!("/v1/sessions/{sid}"),
        Some("KEY-B"),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn session_list_is_paginated_newest_first_and_delete_cancels_a_running_turn() {
    let s = start(options()).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let r = json_of(
            post(
                &s,
                "/v1/sessions",
                json!({"models": ["sim/slow"], "title": format!("s{i}")}),
            )
            .await,
            StatusCode::CREATED,
        )
        .await;
        ids.push(r["id"].as_str().unwrap().to_string());
    }
    let page = get_json(&s, "/v1/sessions?limit=2").await;
    let got: Vec<&str> = page["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, vec![ids[2].as_str(), ids[1].as_str()]);
    let cursor = page["next_cursor"].as_str().unwrap();
    let page2 = get_json(&s, &format!("/v1/sessions?limit=2&cursor={cursor}")).await;
    assert_eq!(page2["sessions"][0]["id"], ids[0].as_str());
    assert!(page2.get("next_cursor").is_none());
    let e = json_of(
        call(&s, Method::GET, "/v1/sessions?limit=0", Some(KEY), None).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(e["error"]["field"], "limit");

    // A turn of sim/slow is still running: the next one must wait.
    let sid = &ids[0];
    let created = json_of(
        post(
            &s,
            "/v1/comparisons",
            json!({"session_id": sid, "prompt": "one"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let running = created["request_id"].as_str().unwrap();
    let e = json_of(
        post(
            &s,
            "/v1/comparisons",
            json!({"session_id": sid, "prompt": "two"}),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(e["error"]["code"], "conflict");
    let r = call(
        &s,
        Method::DELETE,
        &format!("/v1/sessions/{sid}"),
        Some(KEY),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // Its running turn was cancelled upstream.
    let mut stopped = false;
    for _ in 0..100 {
        if s.sim.active_streams() == 0 {
            stopped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(stopped, "the running turn kept streaming");
    let _ = running;
    let r = call(
        &s,
        Method::GET,
        &format!("/v1/sessions/{sid}"),
        Some(KEY),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = call(
        &s,
        Method::DELETE,
        &format!("/v1/sessions/{sid}"),
        Some(KEY),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn blind_comparisons_name_models_only_after_the_vote() {
    let s = start(options()).await;
    let (created, events) = run(
        &s,
        json!({"prompt": "hello there", "models": ["sim/echo", "sim/lorem"], "blind": true}),
    )
    .await;
    assert_eq!(created["models"], json!(["Model A", "Model B"]));
    let id = created["request_id"].as_str().unwrap();
    for (_, _, data) in &events {
        let text = data.to_string();
        assert!(
            !text.contains("sim/"),
            "a blind event names a model: {text}"
        );
    }
    assert!(events.iter().any(|e| e.2["model"] == "Model B"));
    let snap = get_json(&s, &format!("/v1/comparisons/{id}")).await;
    assert_eq!(snap["blind"], true);
    assert!(!snap.to_string().contains("sim/"), "{snap}");
    assert_eq!(snap["models"][0]["model"], "Model A");
    // The vote reveals them; the answers are still where they were.
    let answer_b = snap["models"][1]["text"].clone();
    json_of(
        post(
            &s,
            &format!("/v1/comparisons/{id}/preference"),
            json!({"winner": 1}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let snap = get_json(&s, &format!("/v1/comparisons/{id}")).await;
    let names: Vec<&str> = snap["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["model"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, vec!["sim/echo", "sim/lorem"]);
    assert_eq!(snap["models"][1]["text"], answer_b);
    assert_eq!(snap["models"][1]["result"]["model"], names[1]);
}

#[tokio::test]
async fn votes_make_a_leaderboard_in_json_and_csv() {
    let s = start(options()).await;
    // sim/lorem wins three times, then one tie.
    for winner in [json!(1), json!(1), json!(1), json!("tie")] {
        let (created, _) = run(
            &s,
            json!({"prompt": "rank us", "models": ["sim/echo", "sim/lorem"]}),
        )
        .await;
        let id = created["request_id"].as_str().unwrap();
        json_of(
            post(
                &s,
                &format!("/v1/comparisons/{id}/preference"),
                json!({"winner": winner}),
            )
            .await,
            StatusCode::CREATED,
        )
        .await;
    }
    let board = get_json(&s, "/v1/leaderboard").await;
    assert_eq!(board["votes"], 4);
    let top = &board["models"][0];
    assert_eq!(top["model"], "sim/lorem");
    assert_eq!(top["rank"], 1);
    assert_eq!(
        (
            top["wins"].as_u64(),
            top["ties"].as_u64(),
            top["votes"].as_u64()
        ),
        (Some(3), Some(1), Some(4))
    );
    assert!(top["ci_low"].as_f64().unwrap() <= top["rating"].as_f64().unwrap());
    assert!(top["elo"].as_f64().unwrap() > 1000.0);
    assert!(top["mean_ttft_ms"].as_f64().is_some());
    assert!(top["mean_cost_usd"].as_f64().unwrap() > 0.0);
    assert_eq!(board["models"][1]["losses"], 3);
    // A fifth vote shows up at once.
    let (created, _) = run(
        &s,
        json!({"prompt": "again", "models": ["sim/echo", "sim/lorem"]}),
    )
    .await;
    let id = created["request_id"].as_str().unwrap();
    post(
        &s,
        &format!("/v1/comparisons/{id}/preference"),
        json!({"winner": 0}),
    )
    .await;
    let plain = get_json(&s, "/v1/leaderboard").await;
    assert_eq!(plain["votes"], 5);
    // The plain board is folded vote by vote as votes arrive; a windowed one is computed
    // from the votes read for it: over the same votes they agree to the last digit.
    let mut windowed = get_json(&s, "/v1/leaderboard?from=2000-01-01").await;
    assert!(windowed["from_ms"].is_i64());
    windowed.as_object_mut().unwrap().remove("from_ms");
    assert_eq!(windowed, plain);
    // Time filter and CSV.
    let future = get_json(&s, "/v1/leaderboard?from=2999-01-01").await;
    assert_eq!(future["votes"], 0);
    let r = call(
        &s,
        Method::GET,
        "/v1/leaderboard?format=csv",
        Some(KEY),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = r.text().await.unwrap();
    assert_eq!(csv.lines().count(), 3);
    assert!(csv.lines().nth(1).unwrap().starts_with("1,\"sim/lorem\","));
    for q in ["format=xml", "from=yesterday"] {
        let r = call(
            &s,
            Method::GET,
            &format!("/v1/leaderboard?{q}"),
            Some(KEY),
            None,
        )
        .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{q}");
    }
}

/// Worst case of one `sim/lorem` call with `max_tokens: 100` and prompt "hi", in pico-USD:
/// (8 tokens × 1.1 + 16 = 24) × 1 µ$ + 100 × 2 µ$.
const WORST: f64 = 224e-6;

/// A stored server whose users may each spend 5.5 worst cases of [`WORST`] (and run 100 at
/// once).
async fn start_with_budget_for_five() -> Server {
    let mut o = options();
    o.registry.max_active_per_owner = 100;
    o.budget = Some(BudgetSettings {
        default_usd: Some(WORST * 5.5),
        ..BudgetSettings::default()
    });
    start(o).await
}

/// `n` POSTs of `body` to `path` at once.
fn concurrently(
    s: &Server,
    path: &str,
    body: &Value,
    n: usize,
) -> Vec<tokio::task::JoinHandle<reqwest::Response>> {
    (0..n)
        .map(|_| {
            let url = format!("{}{path}", s.url);
            let body = body.clone();
            tokio::spawn(async move {
                client()
                    .post(url)
                    .bearer_auth(KEY)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
            })
        })
        .collect()
}

#[tokio::test]
async fn twenty_concurrent_requests_against_a_budget_for_five() {
    let s = start_with_budget_for_five().await;
    let body = json!({"prompt": "hi", "models": ["sim/lorem"], "params": {"max_tokens": 100}});
    let attempts = concurrently(&s, "/v1/comparisons", &body, 20);
    let mut accepted = Vec::new();
    let mut refused = 0;
    for a in attempts {
        let r = a.await.unwrap();
        match r.status() {
            StatusCode::CREATED => {
                accepted.push(
                    r.json::<Value>().await.unwrap()["request_id"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                );
            }
            StatusCode::PAYMENT_REQUIRED => {
                let e: Value = r.json().await.unwrap();
                assert_eq!(e["error"]["code"], "budget_exceeded");
                refused += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((accepted.len(), refused), (5, 15));
    let usage = get_json(&s, "/v1/usage").await;
    let b = &usage["budget"];
    assert!(
        (b["reserved_usd"].as_f64().unwrap() - 5.0 * WORST).abs() < 1e-9,
        "{b}"
    );
    for id in &accepted {
        let events = read_sse(&s, Some(KEY), id, None, 10_000).await;
        assert_eq!(events.last().unwrap().2["status"], "completed");
    }
    // Settled: the ledger holds the actual costs, never more than the budget.
    let usage = get_json(&s, "/v1/usage?group_by=model").await;
    let b = &usage["budget"];
    let limit = b["limit_usd"].as_f64().unwrap();
    let spent = b["spent_usd"].as_f64().unwrap();
    let ledger = usage["total"]["cost_usd"].as_f64().unwrap();
    assert_eq!(b["reserved_usd"], 0.0);
    assert!(
        (spent - ledger).abs() < 1e-12 && ledger > 0.0 && ledger <= limit,
        "{usage}"
    );
    assert_eq!(usage["rows"][0]["model"], "sim/lorem");
    assert_eq!(usage["rows"][0]["calls"], 5);
    // Priced by the table on reported usage: all of it, by source.
    let by_source = &usage["total"]["cost_by_source"];
    assert_eq!(
        by_source["price_table"], usage["total"]["cost_usd"],
        "{usage}"
    );
    assert_eq!(by_source["provider"], 0.0, "{usage}");
    assert_eq!(usage["total"]["output_tokens"], 500);
    // Each worst case was replaced by the actual cost (208 µ$: 8 tokens in, 100 out), so what
    // is left (5.5 × 224 − 5 × 208 = 192 µ$) still takes a smaller request, not a full one.
    let smaller = json!({"prompt": "hi", "models": ["sim/lorem"], "params": {"max_tokens": 50}});
    json_of(
        post(&s, "/v1/comparisons", body.clone()).await,
        StatusCode::PAYMENT_REQUIRED,
    )
    .await;
    json_of(
        post(&s, "/v1/comparisons", smaller).await,
        StatusCode::CREATED,
    )
    .await;
    // A model without a price cannot be bounded.
    let e = json_of(
        post(
            &s,
            "/v1/comparisons",
            json!({"prompt": "hi", "models": ["sim/slow"]}),
        )
        .await,
        StatusCode::PAYMENT_REQUIRED,
    )
    .await;
    assert!(
        e["error"]["message"].as_str().unwrap().contains("sim/slow"),
        "{e}"
    );
    // By day, and bad parameters.
    let by_day = get_json(&s, "/v1/usage?group_by=day").await;
    assert_eq!(by_day["rows"].as_array().unwrap().len(), 1);
    assert!(by_day["rows"][0]["day"].as_str().unwrap().starts_with("20"));
    for (q, field) in [
        ("group_by=week", "group_by"),
        ("from=soon", "from"),
        ("from=2000&to=1000", "to"),
    ] {
        let e = json_of(
            call(&s, Method::GET, &format!("/v1/usage?{q}"), Some(KEY), None).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(e["error"]["field"], field, "{q}: {e}");
    }
    // Bob has his own (empty) ledger.
    let bob = json_of(
        call(&s, Method::GET, "/v1/usage", Some("KEY-B"), None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(bob["total"]["calls"], 0);
}

#[tokio::test]
async fn comparisons_are_listed_newest_first_without_session_turns() {
    let s = start(options()).await;
    let mut ids = Vec::new();
    for (i, blind) in [false, true, false].into_iter().enumerate() {
        let (created, _) = run(
            &s,
            json!({"prompt": format!("q{i}"), "models": ["sim/echo", "sim/lorem"], "blind": blind}),
        )
        .await;
        ids.push(created["request_id"].as_str().unwrap().to_string());
    }
    // A session turn belongs to its session's listing.
    let session = json_of(
        post(&s, "/v1/sessions", json!({"models": ["sim/echo"]})).await,
        StatusCode::CREATED,
    )
    .await;
    run(&s, json!({"session_id": session["id"], "prompt": "a turn"})).await;

    let page = get_json(&s, "/v1/comparisons?limit=2").await;
    let got: Vec<&str> = page["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, vec![ids[2].as_str(), ids[1].as_str()]);
    assert_eq!(page["comparisons"][0]["prompt"], "q2");
    assert_eq!(page["comparisons"][0]["status"], "completed");
    assert_eq!(
        page["comparisons"][0]["models"],
        json!(["sim/echo", "sim/lorem"])
    );
    assert_eq!(page["comparisons"][0]["voted"], false);
    // Blind and not voted on: no names.
    assert_eq!(
        page["comparisons"][1]["models"],
        json!(["Model A", "Model B"])
    );
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = get_json(&s, &format!("/v1/comparisons?cursor={cursor}")).await;
    assert_eq!(rest["comparisons"].as_array().unwrap().len(), 1);
    assert_eq!(rest["comparisons"][0]["id"], ids[0].as_str());
    assert!(rest.get("next_cursor").is_none());
    // Another user sees none of them.
    let other = call(&s, Method::GET, "/v1/comparisons", Some("KEY-B"), None).await;
    let other = json_of(other, StatusCode::OK).await;
    assert_eq!(other["comparisons"], json!([]));
    let e = json_of(
        call(
            &s,
            Method::GET,
            "/v1/comparisons?limit=101",
            Some(KEY),
            None,
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(e["error"]["field"], "limit");
}

// ---- /v1/chat/completions goes through the same door: budgets, active limit, records ----

/// Polls `path` until it answers 200 with JSON of which `done` holds (the chat completion's
/// record is written after the answer: until then its id is unknown), for at most 10 s.
async fn eventually(s: &Server, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    llm_compare_testkit::eventually_async(path, Duration::from_secs(10), || async {
        let r = call(s, Method::GET, path, Some(KEY), None).await;
        let ok = r.status() == StatusCode::OK;
        let v: Value = r.json().await.unwrap();
        (ok && done(&v)).then_some(v)
    })
    .await
}

#[tokio::test]
async fn chat_completions_are_held_to_the_budget_and_recorded_in_usage() {
    let s = start_with_budget_for_five().await;
    let body = json!({"model": "sim/lorem", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]});
    let attempts = concurrently(&s, "/v1/chat/completions", &body, 20);
    let (mut ok, mut refused) = (0, 0);
    for a in attempts {
        let r = a.await.unwrap();
        match r.status() {
            StatusCode::OK => {
                let c: Value = r.json().await.unwrap();
                assert_eq!(c["usage"]["completion_tokens"], 100, "{c}");
                ok += 1;
            }
            StatusCode::PAYMENT_REQUIRED => {
                let e: Value = r.json().await.unwrap();
                assert_eq!(e["error"]["code"], "insufficient_quota", "{e}");
                assert_eq!(e["error"]["type"], "insufficient_quota", "{e}");
                refused += 1;
            }
            other => panic!("unexpected {other}: {}", r.text().await.unwrap()),
        }
    }
    assert_eq!((ok, refused), (5, 15));
    // Every answered call is in the ledger and settled at its actual cost.
    let usage = eventually(&s, "/v1/usage", |u| {
        u["total"]["calls"] == 5 && u["budget"]["reserved_usd"] == 0.0
    })
    .await;
    assert_eq!(usage["total"]["calls"], 5, "{usage}");
    assert_eq!(usage["total"]["output_tokens"], 500, "{usage}");
    assert_eq!(usage["budget"]["reserved_usd"], 0.0, "{usage}");
    let spent = usage["budget"]["spent_usd"].as_f64().unwrap();
    assert!((spent - 5.0 * 208e-6).abs() < 1e-12, "{usage}");
    // Still over: the next one is refused too, before any upstream call.
    let r = post(&s, "/v1/chat/completions", body).await;
    assert_eq!(r.status(), StatusCode::PAYMENT_REQUIRED);
}

#[tokio::test]
async fn chat_completions_count_against_the_active_limit() {
    let mut o = options();
    o.registry.max_active_per_owner = 5;
    let s = start(o).await;
    // sim/slow waits 30 s for its first token: every accepted call stays active.
    let body = json!({"model": "sim/slow", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let mut open = Vec::new();
    let mut limited = 0;
    for _ in 0..8 {
        let r = post(&s, "/v1/chat/completions", body.clone()).await;
        match r.status() {
            StatusCode::OK => open.push(r),
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(r.headers().contains_key("retry-after"));
                let e: Value = r.json().await.unwrap();
                assert_eq!(e["error"]["code"], "rate_limited", "{e}");
                limited += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((open.len(), limited), (5, 3));
    // Comparisons share the same slots.
    let r = post(
        &s,
        "/v1/comparisons",
        json!({"prompt": "hi", "models": ["sim/echo"]}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // Hanging up frees the slots.
    drop(open);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let r = post(
            &s,
            "/v1/chat/completions",
            json!({"model": "sim/echo", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
        if r.status() == StatusCode::OK {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "slots never freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_chat_completion_is_stored_and_listed_under_its_request_id() {
    let s = start(options()).await;
    let r = post(
        &s,
        "/v1/chat/completions",
        json!({"model": "sim/echo", "messages": [{"role": "user", "content": "remember me"}]}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let c: Value = r.json().await.unwrap();
    assert_eq!(c["id"], format!("chatcmpl-{id}"));
    let snap = eventually(&s, &format!("/v1/comparisons/{id}"), |v| {
        v["status"] == "completed"
    })
    .await;
    assert_eq!(snap["status"], "completed", "{snap}");
    assert_eq!(snap["prompt"], "remember me");
    assert_eq!(
        snap["models"][0]["text"],
        c["choices"][0]["message"]["content"]
    );
    let list = get_json(&s, "/v1/comparisons").await;
    let listed = list["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == id.as_str())
        .unwrap_or_else(|| panic!("{list}"));
    assert_eq!(listed["kind"], "chat_completion");
}

/// A session turn with an image: later turns send it again (each model's history carries
/// it), the store holds its bytes once (content-addressed) however many turns carry it,
/// snapshots list it and serve its bytes, and deleting the session deletes them. On SQLite,
/// and on PostgreSQL when the tests have one.
#[tokio::test]
async fn session_attachments_are_sent_again_and_stored_once() {
    let (dir, sqlite) = sqlite_url();
    session_attachments_on(&sqlite).await;
    std::fs::remove_dir_all(&dir).unwrap();
    if let Some(pg) = postgres_database("session attachments").await {
        session_attachments_on(&pg).await;
    }
}

async fn session_attachments_on(url: &str) {
    use llm_compare_core::{HttpProvider, ProviderRegistry, Secret, WireFormat};
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"A dot.\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n",
            "text/event-stream",
        ))
        .mount(&upstream)
        .await;
    let sim = Arc::new(llm_compare_core::SimProvider::new(sim()));
    let mut providers = ProviderRegistry::new();
    providers.register(sim.clone());
    providers.register(Arc::new(
        HttpProvider::new(llm_compare_core::providers::HttpProviderSpec {
            name: "up".into(),
            wire: WireFormat::Openai,
            base_url: format!("{}/v1", upstream.uri()),
            key: Some(Secret::new("k")),
            unavailable: None,
            headers: Vec::new(),
            models: vec!["vision".into()],
            include_usage: true,
            connect_timeout: Duration::from_secs(5),
        })
        .unwrap(),
    ));
    let store = llm_compare_service::SqlStore::open(url).await.unwrap();
    let state = AppState::with_store(
        llm_compare_core::Engine::new(providers),
        options(),
        Some(store),
    );
    let s = start_state(state, sim).await;

    // 1.2 MB: stored in two pieces.
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend((0..1_200_000u32 - 8).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    let image =
        serde_json::to_value(llm_compare_core::Part::from_bytes(&bytes, None).unwrap()).unwrap();
    let png = image["data"].as_str().unwrap().to_string();
    let session = json_of(
        post(
            &s,
            "/v1/sessions",
            json!({"models": ["up/vision", "sim/echo"]}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let sid = session["id"].as_str().unwrap();
    let (t1, _) = run(
        &s,
        json!({"session_id": sid, "prompt": "What is this?", "attachments": [image]}),
    )
    .await;
    run(&s, json!({"session_id": sid, "prompt": "And its colour?"})).await;
    // The same image again in turn 3: still one stored copy.
    run(
        &s,
        json!({"session_id": sid, "prompt": "Once more.", "attachments": [image]}),
    )
    .await;

    let sent = upstream.received_requests().await.unwrap();
    assert_eq!(sent.len(), 3);
    let turn2: Value = serde_json::from_slice(&sent[1].body).unwrap();
    let data_url = format!("data:image/png;base64,{png}");
    assert_eq!(
        turn2["messages"],
        json!([
            {"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": data_url}},
            ]},
            {"role": "assistant", "content": "A dot."},
            {"role": "user", "content": "And its colour?"},
        ])
    );
    let turn3: Value = serde_json::from_slice(&sent[2].body).unwrap();
    assert_eq!(turn3["messages"].as_array().unwrap().len(), 5);
    assert_eq!(
        turn3["messages"][4]["content"][1]["image_url"]["url"],
        data_url
    );

    // Stored once.
    sqlx::any::install_default_drivers();
    let db = sqlx::AnyPool::connect(url).await.unwrap();
    let count = |table: &'static str| {
        let db = db.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM {table}"
            )))
            .fetch_one(&db)
            .await
            .unwrap()
        }
    };
    assert_eq!(count("attachments").await, 1);
    assert_eq!(count("attachment_chunks").await, 2);

    // Listed in the session's turns; its bytes served by position.
    let detail = get_json(&s, &format!("/v1/sessions/{sid}")).await;
    let refs = &detail["turns"][0]["attachments"];
    assert_eq!(refs[0]["type"], "image");
    assert_eq!(refs[0]["media_type"], "image/png");
    assert_eq!(refs[0]["size"], 1_200_000);
    assert_eq!(refs[0]["sha256"].as_str().unwrap().len(), 64);
    assert!(detail["turns"][1].get("attachments").is_none(), "{detail}");
    let t1 = t1["request_id"].as_str().unwrap();
    let r = get_as(&s, KEY, &format!("/v1/comparisons/{t1}/attachments/0")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.bytes().await.unwrap(), bytes);
    // Another caller's, an index past the end, not an index: refused, named.
    let r = get_as(&s, "KEY-B", &format!("/v1/comparisons/{t1}/attachments/0")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = get_as(&s, KEY, &format!("/v1/comparisons/{t1}/attachments/1")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let e = json_of(
        get_as(&s, KEY, &format!("/v1/comparisons/{t1}/attachments/x")).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(e["error"]["field"], "index");
    // A bad attachment in a session turn is named and nothing is recorded.
    let e = json_of(
        post(
            &s,
            "/v1/comparisons",
            json!({"session_id": sid, "prompt": "x", "attachments": [{"type": "image", "media_type": "image/jpeg", "data": png}]}),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(e["error"]["field"], "attachments[0].media_type", "{e}");

    // Deleting the session deletes the bytes no comparison refers to any more.
    let r = call(
        &s,
        Method::DELETE,
        &format!("/v1/sessions/{sid}"),
        Some(KEY),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(count("attachments").await, 0);
    assert_eq!(count("attachment_chunks").await, 0);
}

/// An agent comparison holds the worst case of every step it may take (`max_steps` calls per
/// model) against the budget, before any call.
#[tokio::test]
async fn an_agent_comparison_holds_every_steps_worst_case() {
    let (engine, sim) = sim_engine(sim());
    let mut prices = PriceTable::empty();
    prices.set("sim/lorem", ModelPrice::per_million("1", "2").unwrap());
    let noop = llm_compare_core::tools::Toolbox::new().function(
        "noop",
        "Does nothing",
        json!({"type": "object"}),
        |_| async { Ok::<_, String>("ok") },
    );
    let engine = engine
        .with_prices(Arc::new(prices))
        .with_tools(Arc::new(noop));
    let mut o = options();
    o.budget = Some(BudgetSettings {
        default_usd: Some(WORST * 5.5),
        ..BudgetSettings::default()
    });
    let s = start_state(
        AppState::with_store(engine, o, Some(sqlite_store().await)),
        sim,
    )
    .await;
    let body = |steps: u32| {
        json!({"prompt": "hi", "models": ["sim/lorem"], "params": {"max_tokens": 100},
               "tools": ["noop"], "max_steps": steps})
    };
    // 8 steps × the worst case do not fit 5.5 worst cases; 5 do, and are held.
    let e = json_of(
        post(&s, "/v1/comparisons", body(8)).await,
        StatusCode::PAYMENT_REQUIRED,
    )
    .await;
    assert_eq!(e["error"]["code"], "budget_exceeded");
    let created = json_of(
        post(&s, "/v1/comparisons", body(5)).await,
        StatusCode::CREATED,
    )
    .await;
    let usage = get_json(&s, "/v1/usage").await;
    let reserved = usage["budget"]["reserved_usd"].as_f64().unwrap();
    assert!((reserved - 5.0 * WORST).abs() < 1e-9, "{usage}");
    let id = created["request_id"].as_str().unwrap();
    let events = read_sse(&s, Some(KEY), id, None, 10_000).await;
    assert_eq!(events.last().unwrap().2["status"], "completed");
    // Settled at what it cost: nothing held any more.
    let usage = get_json(&s, "/v1/usage").await;
    assert_eq!(
        usage["budget"]["reserved_usd"].as_f64().unwrap(),
        0.0,
        "{usage}"
    );
}

/// A session turn that ran a tool loop stores each model's exchange (its steps' calls and
/// results) with its result — what the next turn sends again — and the next turn, without
/// tools, runs on that history (as text, since it offers no tools).
#[tokio::test]
async fn a_session_turn_keeps_each_models_tool_exchange_in_the_store() {
    let s = start(options()).await;
    let session = json_of(
        post(
            &s,
            "/v1/sessions",
            json!({"models": ["sim/agent", "sim/echo"]}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let sid = session["id"].as_str().unwrap();
    let lookup = json!({"type": "function", "function": {"name": "lookup",
        "parameters": {"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]}}});
    let created = json_of(
        post(
            &s,
            "/v1/comparisons",
            json!({"session_id": sid, "prompt": "tea", "client_tools": [lookup]}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let id = created["request_id"].as_str().unwrap().to_string();
    let mut events = client()
        .get(format!("{}/v1/comparisons/{id}/stream", s.url))
        .header("x-api-key", KEY)
        .send()
        .await
        .unwrap()
        .bytes_stream()
        .eventsource();
    let action = loop {
        let ev = events.next().await.unwrap().unwrap();
        if ev.event == "action" {
            break serde_json::from_str::<Value>(&ev.data).unwrap();
        }
    };
    let r = post(
        &s,
        &format!("/v1/comparisons/{id}/tool_results"),
        json!({"results": [{"model_index": 0, "call_id": action["call_id"], "content": "a drink"}]}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    while events.next().await.is_some() {}
    let stored = get_json(&s, &format!("/v1/comparisons/{id}")).await;
    let exchange = &stored["models"][0]["result"]["exchange"];
    assert_eq!(exchange.as_array().unwrap().len(), 1, "{stored}");
    assert_eq!(exchange[0]["calls"][0]["name"], "lookup");
    assert_eq!(exchange[0]["calls"][0]["id"], action["call_id"]);
    assert_eq!(exchange[0]["results"][0]["content"], "a drink");
    assert!(stored["models"][1]["result"].get("exchange").is_none());
    // The next turn, no tools: it runs on that history.
    let (_, events) = run(&s, json!({"session_id": sid, "prompt": "coffee"})).await;
    let done = &events.last().unwrap().2;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["results"][0]["text"], "coffee");
    let turns = get_json(&s, &format!("/v1/sessions/{sid}")).await;
    assert_eq!(turns["turn_count"], 2);
}

/// Categories and tags: stored with a comparison (and in its snapshot); the leaderboard counts
/// one category's votes with `?category=` and lists the categories; bad labels are 400s
/// naming the field.
#[tokio::test]
async fn a_category_filters_the_leaderboard_and_labels_are_checked() {
    let s = start(options()).await;
    let mut ids = Vec::new();
    for (category, winner) in [("math", 0), ("math", 0), ("code", 1)] {
        let (created, _) = run(
            &s,
            json!({"prompt": "2+2", "models": ["sim/echo", "sim/lorem"], "category": category, "tags": ["t1", "t2"]}),
        )
        .await;
        let id = created["request_id"].as_str().unwrap().to_string();
        let r = post(
            &s,
            &format!("/v1/comparisons/{id}/preference"),
            json!({"winner": winner}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        ids.push(id);
    }
    let snap = get_json(&s, &format!("/v1/comparisons/{}", ids[0])).await;
    assert_eq!(snap["category"], "math");
    assert_eq!(snap["tags"], json!(["t1", "t2"]));
    let math = get_json(&s, "/v1/leaderboard?category=math").await;
    assert_eq!(math["votes"], 2, "{math}");
    assert_eq!(math["category"], "math");
    assert_eq!(math["models"][0]["model"], "sim/echo");
    let code = get_json(&s, "/v1/leaderboard?category=code").await;
    assert_eq!(code["votes"], 1);
    assert_eq!(code["models"][0]["model"], "sim/lorem");
    let all = get_json(&s, "/v1/leaderboard").await;
    assert!(all["votes"].as_u64().unwrap() >= 3);
    let cats = all["categories"].as_array().unwrap();
    assert!(
        cats.contains(&json!("math")) && cats.contains(&json!("code")),
        "{all}"
    );
    for (body, field) in [
        (
            json!({"prompt": "x", "models": ["sim/echo"], "category": ""}),
            "category",
        ),
        (
            json!({"prompt": "x", "models": ["sim/echo"], "category": "x".repeat(65)}),
            "category",
        ),
        (
            json!({"prompt": "x", "models": ["sim/echo"], "tags": ["a", "a"]}),
            "tags[1]",
        ),
        (
            json!({"prompt": "x", "models": ["sim/echo"], "tags": ["ok", "bad\u{7}"]}),
            "tags[1]",
        ),
    ] {
        let r = post(&s, "/v1/comparisons", body).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let b: Value = r.json().await.unwrap();
        assert_eq!(b["error"]["field"], field, "{b}");
    }
}
