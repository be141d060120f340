//! One store test suite, run against SQLite (always) and PostgreSQL (when
//! `LLM_COMPARE_TEST_DATABASE_URL` is set; CI sets it and `LLM_COMPARE_REQUIRE_SERVICES=1`,
//! which turns a missing database into a failure instead of a skip).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use llm_compare_core::*;
use llm_compare_store::*;

fn result(index: usize, model: &str, text: &str) -> ModelResult {
    ModelResult {
        model_index: index,
        model: Arc::from(model),
        text: text.into(),
        reasoning: String::new(),
        tool_calls: vec![],
        finish_reason: Some(FinishReason::Stop),
        raw_finish_reason: None,
        partial: false,
        usage: Usage {
            input_tokens: 10,
            output_tokens: 3,
            ..Usage::default()
        },
        cost: Cost {
            input_usd: Some(Usd(1)),
            output_usd: Some(Usd(2)),
            total_usd: Some(Usd(3)),
            priced: true,
        },
        timing: Timing {
            ttft_ms: Some(1.5),
            total_ms: 9.0,
            tokens_per_s: Some(200.0),
        },
        error: None,
        served_by: None,
        attempts: vec![],
    }
}

fn new(owner: &str) -> NewComparison {
    NewComparison {
        id: uuid::Uuid::now_v7().to_string(),
        owner: owner.into(),
        models: vec!["sim/echo".into(), "sim/lorem".into()],
        metadata: Some(serde_json::json!({"ticket": 42})),
        created_at_ms: 1_700_000_000_000,
    }
}

async fn suite(store: Arc<dyn Store>) {
    // A comparison runs: progress, then results, then complete.
    let c = new("alice");
    store.create_comparison(&c).await.unwrap();
    let s = store.comparison("alice", &c.id).await.unwrap().unwrap();
    assert_eq!(s.status, RequestStatus::Running);
    assert_eq!(s.models.len(), 2);
    assert_eq!(s.metadata, c.metadata);
    assert!(
        store.comparison("bob", &c.id).await.unwrap().is_none(),
        "another owner sees nothing"
    );
    store
        .save_progress(&c.id, 0, "sim/echo", "hel")
        .await
        .unwrap();
    assert_eq!(
        store
            .comparison("alice", &c.id)
            .await
            .unwrap()
            .unwrap()
            .models[0]
            .text,
        "hel"
    );
    // Voting before completion is a conflict.
    let vote = Vote {
        winner: Winner::Model(1),
        feedback: Some("better".into()),
    };
    assert_eq!(
        store.vote("alice", &c.id, &vote).await.unwrap_err().code(),
        ErrorCode::Conflict
    );
    let r0 = result(0, "sim/echo", "hello");
    let r1 = result(1, "sim/lorem", "lorem ipsum");
    store.save_result(&c.id, &r0).await.unwrap();
    // Progress after the result never overwrites it.
    store
        .save_progress(&c.id, 0, "sim/echo", "stale")
        .await
        .unwrap();
    store.save_result(&c.id, &r1).await.unwrap();
    let complete = Complete {
        request_id: c.id.clone(),
        status: RequestStatus::Completed,
        results: vec![r0.clone(), r1.clone()],
        totals: Totals {
            input_tokens: 20,
            output_tokens: 6,
            cost_usd: Usd(6),
            priced: true,
        },
        duration_ms: 12.5,
    };
    store.finish_comparison(&c.id, &complete).await.unwrap();
    let s = store.comparison("alice", &c.id).await.unwrap().unwrap();
    assert_eq!(s.status, RequestStatus::Completed);
    assert_eq!(s.models[0].text, "hello");
    assert_eq!(
        s.models[0].result.as_ref(),
        Some(&r0),
        "results round-trip exactly"
    );
    assert_eq!(s.models[1].result.as_ref(), Some(&r1));
    assert_eq!(s.totals, Some(complete.totals));
    assert_eq!(s.duration_ms, Some(12.5));
    assert!(s.finished_at_ms.is_some());

    // Votes: only the owner, once, a winner in range.
    assert_eq!(
        store.vote("bob", &c.id, &vote).await.unwrap_err().code(),
        ErrorCode::NotFound
    );
    let bad = Vote {
        winner: Winner::Model(2),
        feedback: None,
    };
    assert_eq!(
        store.vote("alice", &c.id, &bad).await.unwrap_err().field(),
        Some("winner")
    );
    store.vote("alice", &c.id, &vote).await.unwrap();
    assert_eq!(
        store.vote("alice", &c.id, &vote).await.unwrap_err().code(),
        ErrorCode::Conflict
    );
    assert_eq!(
        store
            .comparison("alice", &c.id)
            .await
            .unwrap()
            .unwrap()
            .preference,
        Some(vote)
    );
    let tie = new("alice");
    store.create_comparison(&tie).await.unwrap();
    store
        .finish_comparison(
            &tie.id,
            &Complete {
                request_id: tie.id.clone(),
                ..complete.clone()
            },
        )
        .await
        .unwrap();
    let all_bad = Vote {
        winner: Winner::Outcome(Outcome::AllBad),
        feedback: None,
    };
    store.vote("alice", &tie.id, &all_bad).await.unwrap();
    assert_eq!(
        store
            .comparison("alice", &tie.id)
            .await
            .unwrap()
            .unwrap()
            .preference
            .unwrap()
            .winner,
        all_bad.winner
    );

    // A process dies mid-stream: on start-up its comparison is interrupted, partial text kept.
    let dying = new("carol");
    store.create_comparison(&dying).await.unwrap();
    store
        .save_progress(&dying.id, 1, "sim/lorem", "lorem ips")
        .await
        .unwrap();
    assert!(store.mark_interrupted().await.unwrap() >= 1);
    let s = store.comparison("carol", &dying.id).await.unwrap().unwrap();
    assert_eq!(s.status, RequestStatus::Interrupted);
    assert_eq!(s.models[1].text, "lorem ips");
    // Finished ones are untouched.
    assert_eq!(
        store
            .comparison("alice", &c.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        RequestStatus::Completed
    );
}

#[tokio::test]
async fn sqlite_store() {
    let dir = std::env::temp_dir().join(format!("llm-compare-store-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("llm-compare.db").display());
    let store = SqlStore::open(&url).await.unwrap();
    assert!(store.is_sqlite());
    suite(store.clone()).await;
    drop(store);
    // Reopening the same file keeps everything (migrations again are a no-op), in WAL mode.
    let again = SqlStore::open(&url).await.unwrap();
    assert_eq!(again.journal_mode().await.unwrap().as_deref(), Some("wal"));
    drop(again);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn postgres_store() {
    let Ok(url) = std::env::var("LLM_COMPARE_TEST_DATABASE_URL") else {
        if std::env::var("LLM_COMPARE_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
            panic!("LLM_COMPARE_TEST_DATABASE_URL is not set but LLM_COMPARE_REQUIRE_SERVICES=1");
        }
        eprintln!(
            "SKIPPED postgres_store: set LLM_COMPARE_TEST_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run it"
        );
        return;
    };
    let store = SqlStore::open(&url).await.unwrap();
    assert!(!store.is_sqlite());
    suite(store).await;
}
