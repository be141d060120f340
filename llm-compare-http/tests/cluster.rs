//! Two servers sharing one Redis registry (and one database): POST on A, stream on B, resume
//! on A with `Last-Event-ID`; per-user active limits and cancels across servers.
//!
//! Needs `LLM_COMPARE_TEST_REDIS_URL` (CI sets it and `LLM_COMPARE_REQUIRE_SERVICES=1`, which
//! turns a missing Redis into a failure instead of a skip).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use llm_compare_core::SimConfig;
use llm_compare_http::{AppState, Backend, ServerOptions};
use llm_compare_service::{RedisRegistry, SqlStore};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

mod common;
use common::*;

const KEY: &str = "KEY-A";

/// Two servers on one Redis (keys under a prefix of their own) and one SQLite file.
async fn cluster(url: &str) -> (Server, Server) {
    let prefix = format!("llm-compare-test-{}", uuid::Uuid::now_v7());
    let db = std::env::temp_dir().join(format!("llm-compare-cluster-{}.db", uuid::Uuid::now_v7()));
    let db = format!("sqlite://{}", db.display());
    let mut servers = Vec::new();
    for name in ["a", "b"] {
        let options = ServerOptions {
            api_keys: vec![("alice".into(), KEY.into()), ("bob".into(), "KEY-B".into())],
            instance_id: format!("server-{name}"),
            ..ServerOptions::default()
        };
        let redis = RedisRegistry::connect(url, &prefix, options.registry)
            .await
            .unwrap();
        let store = SqlStore::open(&db).await.unwrap();
        let (engine, sim) = sim_engine(SimConfig {
            ttft: Duration::from_millis(5),
            slow_ttft: Duration::from_secs(30),
            tokens_per_s: 200.0,
        });
        let state = AppState::with_backend(engine, options, Some(store), Backend::Redis(redis));
        servers.push(start_state(state, sim).await);
    }
    let b = servers.pop().unwrap();
    let a = servers.pop().unwrap();
    (a, b)
}

async fn post(s: &Server, body: Value) -> reqwest::Response {
    call(s, Method::POST, "/v1/comparisons", Some(KEY), Some(body)).await
}

#[tokio::test]
async fn post_on_a_stream_on_b_resume_on_a_without_gap_or_duplicate() {
    let Some(url) = common::redis_url("cluster tests") else {
        return;
    };
    let (a, b) = cluster(&url).await;
    let r = post(
        &a,
        json!({"prompt": "stream me across servers", "models": ["sim/lorem", "sim/echo"], "params": {"max_tokens": 60}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Stream on B, drop the connection after a few events.
    let first = read_sse(&b, Some(KEY), &id, None, 12).await;
    assert_eq!(first.len(), 12);
    let last = first.last().unwrap().0.unwrap();
    // Resume on A where B left off.
    let rest = read_sse(&a, Some(KEY), &id, Some(last), 10_000).await;
    assert_eq!(rest.last().unwrap().1, "complete");
    let all: Vec<u64> = seqs(&first).into_iter().chain(seqs(&rest)).collect();
    let expected: Vec<u64> = (1..=all.len() as u64).collect();
    assert_eq!(all, expected, "no gap, no duplicate");
    // The text reassembled from both halves is the model's whole answer.
    let text: String = first
        .iter()
        .chain(&rest)
        .filter(|e| e.1 == "response_chunk" && e.2["model_index"] == 0)
        .map(|e| e.2["delta"].as_str().unwrap())
        .collect();
    let complete = &rest.last().unwrap().2;
    assert_eq!(complete["results"][0]["text"].as_str().unwrap(), text);
    // Either server has the snapshot; another user has nothing anywhere.
    for s in [&a, &b] {
        let snap = call(
            s,
            Method::GET,
            &format!("/v1/comparisons/{id}"),
            Some(KEY),
            None,
        )
        .await;
        assert_eq!(snap.status(), StatusCode::OK);
        let snap: Value = snap.json().await.unwrap();
        assert_eq!(snap["status"], "completed");
        assert_eq!(snap["models"][0]["text"].as_str().unwrap(), text);
        let other = call(
            s,
            Method::GET,
            &format!("/v1/comparisons/{id}"),
            Some("KEY-B"),
            None,
        )
        .await;
        assert_eq!(other.status(), StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn the_sixth_active_request_is_refused_on_either_server_and_cancels_cross_over() {
    let Some(url) = common::redis_url("cluster tests") else {
        return;
    };
    let (a, b) = cluster(&url).await;
    let slow = json!({"prompt": "take your time", "models": ["sim/slow"]});
    let mut ids = Vec::new();
    for i in 0..5 {
        let s = if i % 2 == 0 { &a } else { &b };
        let r = post(s, slow.clone()).await;
        assert_eq!(r.status(), StatusCode::CREATED, "request {i}");
        ids.push(
            r.json::<Value>().await.unwrap()["request_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    for s in [&a, &b] {
        let r = post(s, slow.clone()).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(r.headers().contains_key("retry-after"));
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["code"], "rate_limited");
    }
    // Another user is not affected.
    let r = call(
        &b,
        Method::POST,
        "/v1/comparisons",
        Some("KEY-B"),
        Some(slow.clone()),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // Cancel on B a request that runs on A: A stops its upstream call and frees the slot.
    assert!(a.sim.active_streams() > 0);
    let r = call(
        &b,
        Method::DELETE,
        &format!("/v1/comparisons/{}", ids[0]),
        Some(KEY),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let events = read_sse(&b, Some(KEY), &ids[0], None, 10_000).await;
    assert_eq!(events.last().unwrap().2["status"], "cancelled");
    let r = post(&b, slow.clone()).await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "the cancelled request's slot is free"
    );
    for id in ids.iter().skip(1) {
        for s in [&a, &b] {
            let _ = call(
                s,
                Method::DELETE,
                &format!("/v1/comparisons/{id}"),
                Some(KEY),
                None,
            )
            .await;
        }
    }
}
