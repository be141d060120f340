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
            source: CostSource::PriceTable,
        },
        timing: Timing {
            ttft_ms: Some(1.5),
            total_ms: 9.0,
            tokens_per_s: Some(200.0),
        },
        error: None,
        served_by: None,
        attempts: vec![],
        history_trimmed: 0,
        structured: None,
        steps: 0,
        exchange: vec![],
    }
}

/// A name unique to this run: the PostgreSQL database outlives test runs.
fn unique(name: &str) -> String {
    format!("{name}-{}", uuid::Uuid::now_v7())
}

fn new(owner: &str) -> NewComparison {
    NewComparison {
        id: uuid::Uuid::now_v7().to_string(),
        owner: owner.into(),
        models: vec!["sim/echo".into(), "sim/lorem".into()],
        metadata: Some(serde_json::json!({"ticket": 42})),
        created_at_ms: 1_700_000_000_000,
        instance: "test-instance".into(),
        category: Some("geo".into()),
        tags: vec!["a".into(), "b".into()],
        ..NewComparison::default()
    }
}

async fn suite(store: Arc<dyn Store>) {
    comparisons_and_votes(store.clone()).await;
    sessions(store.clone()).await;
    comparison_listing(store.clone()).await;
    budgets_and_usage(store.clone()).await;
    votes_feed_the_leaderboard(store.clone()).await;
    batches_are_all_or_nothing(store.clone()).await;
    batches_of_any_size(store.clone()).await;
    concurrent_writes_are_group_committed(store.clone()).await;
    attachment_bytes_per_owner(store.clone()).await;
    response_threads(store.clone()).await;
    eval_runs(store).await;
}

/// A Responses-API thread: kept (also in a batch beside comparison writes), replaced by id,
/// read back by its owner only.
async fn response_threads(store: Arc<dyn Store>) {
    let id = unique("resp");
    let thread = |text: &str| ResponseThread {
        id: id.clone(),
        owner: "alice".into(),
        comparison_id: unique("c"),
        model: "sim/echo".into(),
        messages: vec![Message::user("hi"), Message::assistant(text)],
        response: serde_json::json!({"id": id, "output_text": text}),
        created_at_ms: 1,
    };
    store.save_thread(&thread("one")).await.unwrap();
    let c = new("alice");
    store
        .write_batch(&[
            Write::Create(Box::new(c.clone())),
            Write::Thread(Box::new(thread("two"))),
            Write::Finish {
                id: c.id.clone(),
                complete: Box::new(complete_of(&c.id, Vec::new())),
            },
        ])
        .await
        .unwrap();
    let got = store.thread("alice", &id).await.unwrap().unwrap();
    assert_eq!(got.messages, thread("two").messages);
    assert_eq!(got.response["output_text"], "two");
    assert!(store.thread("bob", &id).await.unwrap().is_none());
    assert!(store.comparison("alice", &c.id).await.unwrap().is_some());
}

/// A user's stored attachment bytes count each attachment once, whoever else stored it, and
/// stop counting with the last of their sessions that carried it.
async fn attachment_bytes_per_owner(store: Arc<dyn Store>) {
    let (ann, bob) = (unique("ann"), unique("bob"));
    assert_eq!(store.attachment_bytes(&ann).await.unwrap(), 0);
    // A 1×1 PNG: 70 bytes decoded.
    let png: llm_compare_core::Part = serde_json::from_value(serde_json::json!({
        "type": "image", "media_type": "image/png",
        "data": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    }))
    .unwrap();
    let session = NewSession {
        id: uuid::Uuid::now_v7().to_string(),
        owner: ann.clone(),
        title: None,
        models: vec!["sim/echo".into()],
        system: None,
        created_at_ms: 1_700_000_000_000,
    };
    store.create_session(&session).await.unwrap();
    for owner in [&ann, &ann, &bob] {
        let c = NewComparison {
            session_id: (owner == &ann).then(|| session.id.clone()),
            attachments: vec![png.clone()],
            ..new(owner)
        };
        store.create_comparison(&c).await.unwrap();
    }
    assert_eq!(store.attachment_bytes(&ann).await.unwrap(), 70);
    assert_eq!(store.attachment_bytes(&bob).await.unwrap(), 70);
    assert!(store.delete_session(&ann, &session.id).await.unwrap());
    assert_eq!(store.attachment_bytes(&ann).await.unwrap(), 0);
    assert_eq!(store.attachment_bytes(&bob).await.unwrap(), 70);
}

/// Many comparisons written at once (they share transactions): each call returns once its
/// write is stored, a budget refusal among them fails alone, and a result without a time to
/// first token followed by results with one is stored either way (a statement first
/// prepared with a NULL double must not refuse the next value).
async fn concurrent_writes_are_group_committed(store: Arc<dyn Store>) {
    let owner = unique("gina");
    let n = 60;
    let mut tasks = Vec::new();
    for i in 0..n {
        let (store, owner) = (store.clone(), owner.clone());
        tasks.push(tokio::spawn(async move {
            let c = new(&owner);
            let id = c.id.clone();
            store.create_comparison(&c).await.unwrap();
            let mut results = Vec::new();
            for m in 0..2 {
                let mut r = result(m, &c.models[m], &format!("answer {i}/{m}"));
                if (i + m) % 3 == 0 {
                    r.timing.ttft_ms = None;
                }
                store.save_result(&id, &r).await.unwrap();
                results.push(r);
            }
            store
                .finish_comparison(&id, &complete_of(&id, results))
                .await
                .unwrap();
            // Stored when the call returned.
            let got = store.comparison(&owner, &id).await.unwrap().unwrap();
            assert_eq!(got.status, RequestStatus::Completed);
            assert_eq!(got.models[1].text, format!("answer {i}/1"));
            assert!(got.models.iter().all(|m| m.result.is_some()));
        }));
    }
    // A comparison over its budget, created among the others: refused alone.
    let held = NewComparison {
        reservation: Some(Reservation {
            account: None,
            period_start_ms: 0,
            limit_pico: 10,
            per_model_pico: vec![100, 100],
        }),
        ..new(&owner)
    };
    let refused = store.create_comparison(&held).await;
    assert!(
        matches!(refused, Err(Error::BudgetExceeded(_))),
        "{refused:?}"
    );
    for t in tasks {
        t.await.unwrap();
    }
    assert!(store.comparison(&owner, &held.id).await.unwrap().is_none());
    let usage = store.usage(&owner, 0, i64::MAX).await.unwrap();
    let calls: u64 = usage.iter().map(|u| u.calls).sum();
    assert_eq!(calls, 2 * n as u64, "{usage:?}");
}

/// Evaluation runs: created, rows saved once each (a second save of a row is a conflict),
/// listed newest first with how many rows they finished, finished with a summary.
async fn eval_runs(store: Arc<dyn Store>) {
    let owner = unique("erin");
    let run = |id: &str, at: i64| EvalRunRecord {
        id: id.into(),
        owner: owner.clone(),
        dataset: "d.jsonl".into(),
        dataset_sha256: "ab".repeat(32),
        options: serde_json::json!({"models": ["sim/echo"]}),
        units: 3,
        summary: None,
        created_at_ms: at,
        finished_at_ms: None,
        rows_done: 0,
        rows: Vec::new(),
    };
    let (first, second) = (unique("run-a"), unique("run-b"));
    store.create_eval_run(&run(&first, 1_000)).await.unwrap();
    store.create_eval_run(&run(&second, 2_000)).await.unwrap();
    for r in ["r1", "r2"] {
        store
            .save_eval_row(&first, r, 0, "c", &serde_json::json!({"row_id": r}))
            .await
            .unwrap();
    }
    assert!(matches!(
        store
            .save_eval_row(&first, "r1", 0, "c", &serde_json::json!({}))
            .await,
        Err(Error::Conflict(_))
    ));
    store
        .finish_eval_run(&first, &serde_json::json!({"rows": 2}))
        .await
        .unwrap();
    let listed = store.eval_runs(&owner, 10).await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, [second.as_str(), first.as_str()], "newest first");
    assert_eq!((listed[0].rows_done, listed[1].rows_done), (0, 2));
    assert!(listed.iter().all(|r| r.rows.is_empty()));
    assert_eq!(listed[1].summary, Some(serde_json::json!({"rows": 2})));
    assert_eq!(store.eval_runs(&owner, 1).await.unwrap().len(), 1);
    assert!(store.eval_runs("nobody", 10).await.unwrap().is_empty());
    let one = store.eval_run(&owner, &first).await.unwrap().unwrap();
    assert_eq!(one.rows_done, 2);
    assert_eq!(one.rows.len(), 2);
    assert!(store.eval_run("nobody", &first).await.unwrap().is_none());
}

/// `write_batch`: several comparisons' records in one transaction; a batch that fails
/// anywhere leaves nothing behind.
async fn batches_are_all_or_nothing(store: Arc<dyn Store>) {
    let owner = unique("frank");
    let group = |owner: &str| {
        let c = NewComparison {
            kind: ComparisonKind::ChatCompletion,
            models: vec!["sim/echo".into()],
            ..new(owner)
        };
        let r = result(0, "sim/echo", "batched");
        let id = c.id.clone();
        vec![
            Write::Create(Box::new(c)),
            Write::Result {
                id: id.clone(),
                result: Box::new(r.clone()),
            },
            Write::Finish {
                id: id.clone(),
                complete: Box::new(complete_of(&id, vec![r])),
            },
        ]
    };
    let (a, b) = (group(&owner), group(&owner));
    let ids = [
        a[0].comparison_id().to_string(),
        b[0].comparison_id().to_string(),
    ];
    store.write_batch(&[a.clone(), b].concat()).await.unwrap();
    for id in &ids {
        let c = store.comparison(&owner, id).await.unwrap().unwrap();
        assert_eq!(c.status, RequestStatus::Completed);
        assert_eq!(c.models[0].text, "batched");
    }
    let listed = store.comparisons(&owner, 10, None).await.unwrap();
    assert!(
        listed
            .iter()
            .all(|c| c.kind == ComparisonKind::ChatCompletion)
    );
    let usage = store.usage(&owner, 0, i64::MAX).await.unwrap();
    assert_eq!(usage.iter().map(|u| u.calls).sum::<u64>(), 2);
    // Batched ledger entries keep where each cost came from.
    assert!(
        usage
            .iter()
            .all(|u| u.cost_source == Some(CostSource::PriceTable)),
        "{usage:?}"
    );
    // A new record, then one that collides with a stored one: neither is kept.
    let fresh = group(&owner);
    let fresh_id = fresh[0].comparison_id().to_string();
    assert!(store.write_batch(&[fresh, a].concat()).await.is_err());
    assert!(store.comparison(&owner, &fresh_id).await.unwrap().is_none());
}

/// Batches of many sizes (SQLite cuts a multi-row statement into chunks of powers of two and
/// keeps each prepared; PostgreSQL takes one statement): every row lands, whatever the size,
/// also when a size's statement was prepared by an earlier batch.
async fn batches_of_any_size(store: Arc<dyn Store>) {
    let owner = unique("grace");
    let mut ids = Vec::new();
    let mut calls = 0;
    for (n, finish_later) in [(70, true), (77, false), (3, false), (13, true), (1, false)] {
        let made: Vec<(NewComparison, Vec<ModelResult>)> = (0..n)
            .map(|k| {
                let c = new(&owner);
                let results = c
                    .models
                    .iter()
                    .enumerate()
                    .map(|(i, m)| result(i, m, &format!("{n}-{k}-{i}")))
                    .collect();
                (c, results)
            })
            .collect();
        let ends = |made: &[(NewComparison, Vec<ModelResult>)]| -> Vec<Write> {
            made.iter()
                .flat_map(|(c, rs)| {
                    rs.iter()
                        .map(|r| Write::Result {
                            id: c.id.clone(),
                            result: Box::new(r.clone()),
                        })
                        .chain([Write::Finish {
                            id: c.id.clone(),
                            complete: Box::new(complete_of(&c.id, rs.clone())),
                        }])
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        let creates: Vec<Write> = made
            .iter()
            .map(|(c, _)| Write::Create(Box::new(c.clone())))
            .collect();
        if finish_later {
            // Created in one batch (running), answered and finished in the next.
            store.write_batch(&creates).await.unwrap();
            for (c, _) in &made {
                let s = store.comparison(&owner, &c.id).await.unwrap().unwrap();
                assert_eq!(s.status, RequestStatus::Running, "batch of {n}");
            }
            store.write_batch(&ends(&made)).await.unwrap();
        } else {
            // Each comparison created, answered and finished in the same batch: recorded whole.
            let all: Vec<Write> = creates
                .into_iter()
                .zip(made.chunks(1))
                .flat_map(|(create, one)| std::iter::once(create).chain(ends(one)))
                .collect();
            store.write_batch(&all).await.unwrap();
        }
        for (c, rs) in &made {
            let s = store.comparison(&owner, &c.id).await.unwrap().unwrap();
            assert_eq!(s.status, RequestStatus::Completed, "batch of {n}");
            let texts: Vec<&str> = s.models.iter().map(|m| m.text.as_str()).collect();
            let want: Vec<&str> = rs.iter().map(|r| r.text.as_str()).collect();
            assert_eq!(texts, want, "batch of {n}");
            assert!(s.models.iter().all(|m| m.result.is_some()), "batch of {n}");
            ids.push(c.id.clone());
        }
        calls += n * 2;
    }
    let usage = store.usage(&owner, 0, i64::MAX).await.unwrap();
    assert_eq!(usage.iter().map(|u| u.calls).sum::<u64>(), calls as u64);
    assert_eq!(ids.len(), 164);
}

async fn comparisons_and_votes(store: Arc<dyn Store>) {
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
    let instance = unique("server");
    let dying = NewComparison {
        instance: instance.clone(),
        ..new("carol")
    };
    store.create_comparison(&dying).await.unwrap();
    store
        .save_progress(&dying.id, 1, "sim/lorem", "lorem ips")
        .await
        .unwrap();
    // Another server sharing the database keeps its running comparison.
    let elsewhere = NewComparison {
        instance: unique("other-server"),
        ..new("carol")
    };
    store.create_comparison(&elsewhere).await.unwrap();
    assert_eq!(
        store.mark_interrupted(&instance).await.unwrap(),
        vec![llm_compare_store::Interrupted {
            owner: "carol".into(),
            id: dying.id.clone()
        }]
    );
    let s = store.comparison("carol", &dying.id).await.unwrap().unwrap();
    assert_eq!(s.status, RequestStatus::Interrupted);
    assert_eq!(s.models[1].text, "lorem ips");
    let other = store
        .comparison("carol", &elsewhere.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(other.status, RequestStatus::Running);
    // A registration that failed leaves nothing behind.
    store.discard_comparison(&elsewhere.id).await.unwrap();
    assert!(
        store
            .comparison("carol", &elsewhere.id)
            .await
            .unwrap()
            .is_none()
    );
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

fn complete_of(id: &str, results: Vec<ModelResult>) -> Complete {
    Complete {
        request_id: id.into(),
        status: RequestStatus::Completed,
        results,
        totals: Totals::default(),
        duration_ms: 1.0,
    }
}

async fn sessions(store: Arc<dyn Store>) {
    let alice = unique("alice");
    let mut ids = Vec::new();
    for i in 0..3 {
        let s = NewSession {
            id: uuid::Uuid::now_v7().to_string(),
            owner: alice.clone(),
            title: Some(format!("chat {i}")),
            models: vec!["sim/echo".into(), "sim/lorem".into()],
            system: Some("be brief".into()),
            created_at_ms: 1_700_000_000_000 + i,
        };
        store.create_session(&s).await.unwrap();
        ids.push(s.id);
    }
    // Newest first, paginated by id.
    let page = store.sessions(&alice, 2, None).await.unwrap();
    assert_eq!(
        page.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
        vec![ids[2].clone(), ids[1].clone()]
    );
    let rest = store.sessions(&alice, 2, Some(&page[1].id)).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].id, ids[0]);
    assert!(store.sessions("nobody", 10, None).await.unwrap().is_empty());

    // Two turns, the first voted on.
    let sid = &ids[0];
    let mut turns = Vec::new();
    for q in ["first?", "second?"] {
        let c = NewComparison {
            session_id: Some(sid.clone()),
            prompt: Some(q.into()),
            ..new(&alice)
        };
        store.create_comparison(&c).await.unwrap();
        let rs = vec![result(0, "sim/echo", q), result(1, "sim/lorem", "lorem")];
        for r in &rs {
            store.save_result(&c.id, r).await.unwrap();
        }
        store
            .finish_comparison(&c.id, &complete_of(&c.id, rs))
            .await
            .unwrap();
        turns.push(c.id);
    }
    let vote = Vote {
        winner: Winner::Model(0),
        feedback: None,
    };
    store.vote(&alice, &turns[0], &vote).await.unwrap();
    let s = store.session(&alice, sid).await.unwrap().unwrap();
    assert_eq!(s.summary.turns, 2);
    assert_eq!(s.summary.system.as_deref(), Some("be brief"));
    assert_eq!(s.turns.len(), 2);
    assert_eq!(s.turns[0].prompt.as_deref(), Some("first?"));
    assert_eq!(s.turns[1].prompt.as_deref(), Some("second?"));
    assert_eq!(s.turns[0].models[0].text, "first?");
    assert_eq!(s.turns[0].models[1].text, "lorem");
    assert_eq!(s.turns[0].preference, Some(vote));
    assert_eq!(s.turns[1].preference, None);
    assert!(store.session("mallory", sid).await.unwrap().is_none());
    assert!(!store.delete_session("mallory", sid).await.unwrap());
    assert!(store.delete_session(&alice, sid).await.unwrap());
    assert!(store.session(&alice, sid).await.unwrap().is_none());
    // Its turns went with it.
    assert!(store.comparison(&alice, &turns[0]).await.unwrap().is_none());
    assert!(!store.delete_session(&alice, sid).await.unwrap());
}

async fn comparison_listing(store: Arc<dyn Store>) {
    let erin = unique("erin");
    // A session turn is listed with its session, not here.
    let sid = uuid::Uuid::now_v7().to_string();
    store
        .create_session(&NewSession {
            id: sid.clone(),
            owner: erin.clone(),
            title: None,
            models: vec!["sim/echo".into()],
            system: None,
            created_at_ms: 1_700_000_000_000,
        })
        .await
        .unwrap();
    let turn = NewComparison {
        session_id: Some(sid),
        prompt: Some("a turn".into()),
        ..new(&erin)
    };
    store.create_comparison(&turn).await.unwrap();
    let mut ids = Vec::new();
    for (i, blind) in [false, true, false].into_iter().enumerate() {
        let c = NewComparison {
            prompt: Some(format!("question {i} {}", "x".repeat(300))),
            blind,
            ..new(&erin)
        };
        store.create_comparison(&c).await.unwrap();
        ids.push(c.id);
    }
    let page = store.comparisons(&erin, 2, None).await.unwrap();
    assert_eq!(
        page.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
        vec![ids[2].clone(), ids[1].clone()],
        "newest first, no session turns"
    );
    assert_eq!(page[0].models, vec!["sim/echo", "sim/lorem"]);
    assert_eq!(page[0].status, RequestStatus::Running);
    assert!(
        page[0]
            .prompt
            .as_deref()
            .unwrap()
            .starts_with("question 2 x")
    );
    assert_eq!(page[0].prompt.as_deref().unwrap().chars().count(), 200);
    assert!(page[1].blind && !page[1].voted);
    assert_eq!(
        page[1].models,
        vec!["Model A", "Model B"],
        "blind until the vote"
    );
    let rest = store
        .comparisons(&erin, 2, Some(&page[1].id))
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].id, ids[0]);
    assert!(
        store
            .comparisons("nobody", 10, None)
            .await
            .unwrap()
            .is_empty()
    );

    // Voted on: the blind one shows its models.
    let rs = vec![result(0, "sim/echo", "a"), result(1, "sim/lorem", "b")];
    for r in &rs {
        store.save_result(&ids[1], r).await.unwrap();
    }
    store
        .finish_comparison(&ids[1], &complete_of(&ids[1], rs))
        .await
        .unwrap();
    let vote = Vote {
        winner: Winner::Outcome(llm_compare_store::Outcome::Tie),
        feedback: None,
    };
    store.vote(&erin, &ids[1], &vote).await.unwrap();
    let page = store.comparisons(&erin, 3, None).await.unwrap();
    assert!(page[1].voted);
    assert_eq!(page[1].status, RequestStatus::Completed);
    assert_eq!(page[1].models, vec!["sim/echo", "sim/lorem"]);
}

async fn budgets_and_usage(store: Arc<dyn Store>) {
    let owner = unique("dave");
    let period = 1_700_000_000_000;
    // Each comparison may cost up to 3 pico per model; the budget allows five of them.
    let per_model = vec![3_i64, 3];
    let limit = 5 * 6;
    let attempts: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            let c = NewComparison {
                reservation: Some(Reservation {
                    account: None,
                    limit_pico: limit,
                    period_start_ms: period,
                    per_model_pico: per_model.clone(),
                }),
                ..new(&owner)
            };
            tokio::spawn(async move { (store.create_comparison(&c).await, c.id) })
        })
        .collect();
    let mut accepted = Vec::new();
    for a in attempts {
        match a.await.unwrap() {
            (Ok(()), id) => accepted.push(id),
            (Err(e), _) => {
                assert_eq!(e.code(), ErrorCode::BudgetExceeded, "{e}");
                assert_eq!(e.http_status(), 402);
            }
        }
    }
    assert_eq!(accepted.len(), 5, "exactly the five that fit");
    let b = store.budget(&owner, period).await.unwrap();
    assert_eq!(b.committed_pico, limit);
    assert_eq!(b.spent_pico, 0);
    // One finishes cheaper than its worst case: the difference is released.
    let mut cheap = result(0, "openai/gpt-4o", "x");
    cheap.cost = Cost::reported(Usd(1));
    store.save_result(&accepted[0], &cheap).await.unwrap();
    let mut second = result(1, "sim/lorem", "y");
    second.cost = Cost::UNPRICED;
    store.save_result(&accepted[0], &second).await.unwrap();
    store
        .finish_comparison(&accepted[0], &complete_of(&accepted[0], vec![]))
        .await
        .unwrap();
    let b = store.budget(&owner, period).await.unwrap();
    assert_eq!(b.spent_pico, 1);
    assert_eq!(b.committed_pico, limit - 6 + 1);
    // A failed registration gives its hold back.
    store.discard_comparison(&accepted[1]).await.unwrap();
    assert_eq!(
        store.budget(&owner, period).await.unwrap().committed_pico,
        limit - 12 + 1
    );
    // The ledger: one row per model call, grouped by model and day.
    let rows = store.usage(&owner, 0, i64::MAX).await.unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let gpt = rows.iter().find(|r| r.model == "openai/gpt-4o").unwrap();
    assert_eq!((gpt.calls, gpt.input_tokens, gpt.output_tokens), (1, 10, 3));
    assert_eq!((gpt.cost_pico, gpt.unpriced_calls), (1, 0));
    // The ledger keeps where each figure came from.
    assert_eq!(gpt.cost_source, Some(CostSource::Provider));
    let lorem = rows.iter().find(|r| r.model == "sim/lorem").unwrap();
    assert_eq!((lorem.cost_pico, lorem.unpriced_calls), (0, 1));
    assert_eq!(lorem.cost_source, Some(CostSource::PriceTable));
    assert!(store.usage(&owner, 0, 1).await.unwrap().is_empty());
    assert!(store.usage("nobody", 0, i64::MAX).await.unwrap().is_empty());
}

/// A 2-model comparison of `owner`'s, answered ("a", "b"), finished and voted for model 1.
async fn voted(store: &dyn Store, owner: &str) -> NewComparison {
    let c = new(owner);
    store.create_comparison(&c).await.unwrap();
    let rs = vec![result(0, "sim/echo", "a"), result(1, "sim/lorem", "b")];
    for r in &rs {
        store.save_result(&c.id, r).await.unwrap();
    }
    store
        .finish_comparison(&c.id, &complete_of(&c.id, rs))
        .await
        .unwrap();
    let vote = Vote {
        winner: Winner::Model(1),
        feedback: None,
    };
    store.vote(owner, &c.id, &vote).await.unwrap();
    c
}

async fn votes_feed_the_leaderboard(store: Arc<dyn Store>) {
    let owner = unique("erin");
    let before = store.votes_since(0).await.unwrap().len();
    let c = voted(&*store, &owner).await;
    let votes = store.votes_since(0).await.unwrap();
    assert_eq!(votes.len(), before + 1);
    let v = votes.iter().find(|v| v.comparison_id == c.id).unwrap();
    // Votes since a time after this one leave it out.
    assert!(
        store
            .votes_since(v.at_ms + 1)
            .await
            .unwrap()
            .iter()
            .all(|x| x.comparison_id != c.id)
    );
    assert_eq!(v.models, vec!["sim/echo", "sim/lorem"]);
    assert_eq!(v.winner, Winner::Model(1));
    assert_eq!(v.ttft_ms, vec![Some(1.5), Some(1.5)]);
    assert_eq!(v.cost_pico, vec![Some(3), Some(3)]);
    assert_eq!(v.source, "human");
    assert_eq!(v.category.as_deref(), Some("geo"));
    let stored = store.comparison(&owner, &c.id).await.unwrap().unwrap();
    assert_eq!(stored.category.as_deref(), Some("geo"));
    assert_eq!(stored.tags, vec!["a", "b"]);

    // A judge's pairwise verdicts are votes of their own kind, on the judged pair; a verdict
    // recorded again replaces the first.
    let verdict = |a_won| llm_compare_store::JudgeVote {
        comparison_id: c.id.clone(),
        judge: "sim/judge".into(),
        a_index: 0,
        b_index: 1,
        a_won,
        reason: Some("r".into()),
    };
    store.judge_votes(&[verdict(Some(true))]).await.unwrap();
    store.judge_votes(&[verdict(None)]).await.unwrap();
    let votes = store.votes_since(0).await.unwrap();
    let judged: Vec<_> = votes
        .iter()
        .filter(|x| x.comparison_id == c.id && x.source == "judge:sim/judge")
        .collect();
    assert_eq!(judged.len(), 1);
    assert_eq!(judged[0].pair, Some((0, 1)));
    assert_eq!(judged[0].models, vec!["sim/echo", "sim/lorem"]);
    assert_eq!(
        judged[0].winner,
        Winner::Outcome(llm_compare_store::Outcome::Tie)
    );
}

/// A fresh directory for a SQLite file, and the file's URL.
fn sqlite_file() -> (std::path::PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("llm-compare-store-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("llm-compare.db").display());
    (dir, url)
}

#[tokio::test]
async fn sqlite_store() {
    let (dir, url) = sqlite_file();
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

/// Rows that do not decode are typed errors naming the row — never a default ("model 0
/// won", "interrupted", no models).
#[tokio::test]
async fn corrupt_rows_are_errors_not_defaults() {
    let (dir, url) = sqlite_file();
    let store = SqlStore::open(&url).await.unwrap();
    let c = voted(&*store, "alice").await;
    assert_eq!(store.votes_since(0).await.unwrap().len(), 1);

    // Another program (or a bad migration) writes what this version cannot read.
    let raw = sqlx::SqlitePool::connect(&url).await.unwrap();
    let exec = |sql: &'static str| {
        let raw = raw.clone();
        let id = c.id.clone();
        async move {
            sqlx::query(sql).bind(id).execute(&raw).await.unwrap();
        }
    };
    let corrupt = |e: Error, what: &str| {
        assert_eq!(e.code(), ErrorCode::Internal, "{e}");
        let m = e.to_string();
        assert!(
            m.contains("corrupt") && m.contains(&c.id) && m.contains(what),
            "{m}"
        );
    };
    exec("UPDATE preferences SET winner = 'model-b' WHERE comparison_id = $1").await;
    corrupt(
        store.comparison("alice", &c.id).await.unwrap_err(),
        "winner",
    );
    corrupt(store.votes_since(0).await.unwrap_err(), "winner");
    exec("UPDATE preferences SET winner = '1' WHERE comparison_id = $1").await;
    assert_eq!(
        store
            .comparison("alice", &c.id)
            .await
            .unwrap()
            .unwrap()
            .preference
            .unwrap()
            .winner,
        Winner::Model(1)
    );
    exec("UPDATE comparisons SET status = 'half-done' WHERE id = $1").await;
    corrupt(
        store.comparison("alice", &c.id).await.unwrap_err(),
        "status",
    );
    corrupt(
        store.comparisons("alice", 10, None).await.unwrap_err(),
        "status",
    );
    exec("UPDATE comparisons SET status = 'completed', models = 'sim/echo' WHERE id = $1").await;
    corrupt(
        store.comparisons("alice", 10, None).await.unwrap_err(),
        "models",
    );
    exec("UPDATE comparisons SET models = '[]', kind = 'batch' WHERE id = $1").await;
    corrupt(
        store.comparisons("alice", 10, None).await.unwrap_err(),
        "kind",
    );
    // A ledger entry whose cost source this version does not know; entries from before
    // sources were kept (NULL) are read as such.
    exec("UPDATE usage_ledger SET cost_source = NULL WHERE comparison_id = $1").await;
    let rows = store.usage("alice", 0, i64::MAX).await.unwrap();
    assert!(rows.iter().all(|r| r.cost_source.is_none()), "{rows:?}");
    exec("UPDATE usage_ledger SET cost_source = 'guessed' WHERE comparison_id = $1").await;
    let e = store.usage("alice", 0, i64::MAX).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::Internal, "{e}");
    assert!(e.to_string().contains("cost_source"), "{e}");
    raw.close().await;
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}
