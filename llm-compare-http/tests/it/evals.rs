//! `/v1/evals`: a run started over HTTP streams its rows and summary as SSE (resumable),
//! is stored (GET, list, report, judge votes on the leaderboard), can be cancelled (its rows
//! in flight cancelled), and refuses bad input naming the field.

use crate::common;

use std::time::Duration;

use common::{Server, client, json, sim_config, sqlite_store, start_stored};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use llm_compare_http::ServerOptions;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn stored_server() -> Server {
    start_stored(
        ServerOptions::default(),
        sim_config(),
        Some(sqlite_store().await),
    )
    .await
}

/// The run's SSE events (id, type, data) from `last_event_id`, to the end.
async fn read_run(
    s: &Server,
    id: &str,
    last_event_id: Option<usize>,
) -> Vec<(usize, String, Value)> {
    let mut r = client().get(format!("{}/v1/evals/{id}/stream", s.url));
    if let Some(n) = last_event_id {
        r = r.header("last-event-id", n.to_string());
    }
    let resp = r.send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut events = resp.bytes_stream().eventsource();
    let mut out = Vec::new();
    while let Some(ev) = tokio::time::timeout(Duration::from_secs(30), events.next())
        .await
        .expect("the run's stream stalled")
    {
        let ev = ev.unwrap();
        out.push((
            ev.id.parse().unwrap(),
            ev.event.clone(),
            serde_json::from_str(&ev.data).unwrap(),
        ));
    }
    out
}

async fn start(s: &Server, body: Value) -> reqwest::Response {
    client()
        .post(format!("{}/v1/evals", s.url))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Rows whose prompt holds "sky" (every third) pass `contains: sky` for sim/echo, which
/// repeats the prompt; sim/lorem never says it.
fn dataset(n: usize) -> String {
    (0..n)
        .map(|i| {
            let word = if i % 3 == 0 { "sky" } else { "sea" };
            json!({"id": format!("r{i}"), "prompt": format!("describe the {word} on day {i}"), "expected": "sky",
                   "category": if i % 2 == 0 { "even" } else { "odd" }})
            .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn a_run_over_http_streams_its_rows_then_the_summary_and_is_stored() {
    let s = stored_server().await;
    let n = 9;
    let r = start(
        &s,
        json!({"dataset": {"name": "rows.jsonl", "content": dataset(n)}, "models": ["sim/echo", "sim/lorem"], "judge": "sim/judge", "concurrency": 3}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let created: Value = r.json().await.unwrap();
    let id = created["run_id"].as_str().unwrap().to_string();
    assert_eq!(location, format!("/v1/evals/{id}"));
    assert_eq!(created["units"], n);
    assert_eq!(created["stream_url"], format!("/v1/evals/{id}/stream"));

    let events = read_run(&s, &id, None).await;
    let ids: Vec<usize> = events.iter().map(|e| e.0).collect();
    assert_eq!(ids, (1..=n + 2).collect::<Vec<_>>());
    assert_eq!(events[0].1, "start");
    assert!(
        events[1..=n]
            .iter()
            .all(|e| e.1 == "row" && e.2["type"] == "row")
    );
    let mut rows: Vec<&str> = events[1..=n]
        .iter()
        .map(|e| e.2["row_id"].as_str().unwrap())
        .collect();
    rows.sort_unstable();
    rows.dedup();
    assert_eq!(rows.len(), n, "every row once");
    let summary = &events[n + 1].2;
    assert_eq!(events[n + 1].1, "summary");
    // Computed apart: echo passes the "sky" rows (i % 3 == 0), lorem none.
    let sky = (0..n).filter(|i| i % 3 == 0).count() as f64 / n as f64;
    assert_eq!(summary["models"][0]["model"], "sim/echo");
    assert!(
        (summary["models"][0]["pass_rate"].as_f64().unwrap() - sky).abs() < 1e-9,
        "{summary}"
    );
    assert_eq!(summary["models"][1]["pass_rate"], 0.0);

    // Resumed after the summary: only what follows.
    let tail = read_run(&s, &id, Some(n + 1)).await;
    assert_eq!(tail.len(), 1);
    assert_eq!(tail[0].1, "summary");
    let ended = client()
        .get(format!("{}/v1/evals/{id}/stream", s.url))
        .header("last-event-id", (n + 2).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);

    let view = json(client().get(format!("{}/v1/evals/{id}", s.url))).await;
    assert_eq!(view["run"]["status"], "completed", "{view}");
    assert_eq!(view["run"]["rows_done"], n);
    assert_eq!(view["run"]["dataset"], "rows.jsonl");
    assert_eq!(view["rows"].as_array().unwrap().len(), n);
    let mut stored = summary.clone();
    stored.as_object_mut().unwrap().remove("type");
    assert_eq!(view["run"]["summary"], stored);
    let list = json(client().get(format!("{}/v1/evals", s.url))).await;
    assert_eq!(list["runs"][0]["run_id"], id.as_str());
    assert!(list["runs"][0].get("rows").is_none());

    let report = client()
        .get(format!("{}/v1/evals/{id}/report", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(report.status(), StatusCode::OK);
    assert!(
        report.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = report.text().await.unwrap();
    assert!(html.contains("Evaluation report") && html.contains("sim/lorem"));
    assert!(!html.contains("http://") && !html.contains("https://"));

    // The judge's verdicts are votes of their own kind; its calls are not listed as
    // comparisons (the rows are), but they are in the usage.
    let board = json(client().get(format!("{}/v1/leaderboard?source=judge", s.url))).await;
    assert_eq!(board["votes"], n, "{board}");
    assert_eq!(board["models"][0]["model"], "sim/echo", "{board}");
    let listed = json(client().get(format!("{}/v1/comparisons?limit=100", s.url))).await;
    let listed = listed["comparisons"].as_array().unwrap();
    assert_eq!(listed.len(), n, "only the rows' comparisons are listed");
    let usage = json(client().get(format!("{}/v1/usage?group_by=model", s.url))).await;
    assert!(usage.to_string().contains("sim/judge"), "{usage}");
}

#[tokio::test]
async fn a_cancelled_run_stops_its_rows_and_keeps_what_finished() {
    let s = stored_server().await;
    // sim/slow answers after 30 s: the rows are in flight when the cancel comes.
    let r = start(
        &s,
        json!({"dataset": {"name": "rows.jsonl", "content": dataset(6)}, "models": ["sim/slow"], "concurrency": 2}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Both rows' comparisons have started before the cancel.
    let mut running = 0;
    for _ in 0..200 {
        let listed = json(client().get(format!("{}/v1/comparisons", s.url))).await;
        running = listed["comparisons"].as_array().unwrap().len();
        if running == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(running, 2);
    // A run still running cannot be resumed.
    let again = start(
        &s,
        json!({"dataset": {"name": "rows.jsonl", "content": dataset(6)}, "models": ["sim/slow"], "resume": id}),
    )
    .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);

    let cancelled = client()
        .delete(format!("{}/v1/evals/{id}", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), StatusCode::ACCEPTED);
    let events = read_run(&s, &id, None).await;
    assert_eq!(events.last().unwrap().1, "cancelled", "{events:?}");
    assert_eq!(events.last().unwrap().2["rows_done"], 0);
    let view = json(client().get(format!("{}/v1/evals/{id}", s.url))).await;
    assert_eq!(view["run"]["status"], "cancelled");
    assert_eq!(view["run"]["rows_done"], 0);
    // The rows' comparisons were cancelled, not left to run.
    let mut statuses = Vec::new();
    for _ in 0..200 {
        let listed = json(client().get(format!("{}/v1/comparisons", s.url))).await;
        statuses = listed["comparisons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["status"].as_str().unwrap().to_string())
            .collect();
        if statuses.iter().all(|st| st == "cancelled") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(statuses, ["cancelled", "cancelled"]);
}

#[tokio::test]
async fn bad_runs_are_refused_naming_the_field() {
    let s = stored_server().await;
    let cases = [
        (
            json!({"dataset": {"name": "rows.jsonl", "content": ""}, "models": ["sim/echo"]}),
            "dataset",
        ),
        (
            json!({"dataset": {"name": "rows.jsonl", "content": "{\"prompt\": \"a\"}\n{\"prompt\": 3}"}, "models": ["sim/echo"]}),
            "line 2",
        ),
        (
            json!({"dataset": {"name": "rows.jsonl", "content": "{\"prompt\": \"a\", \"assert\": [{\"type\": \"sounds_nice\"}]}"}, "models": ["sim/echo"]}),
            "sounds_nice",
        ),
        (
            json!({"dataset": {"name": "rows.jsonl", "content": "{\"prompt\": \"a\"}"}, "models": []}),
            "models",
        ),
        (
            json!({"dataset": {"name": "rows.jsonl", "content": "{\"prompt\": \"a\"}"}, "models": ["sim/echo"], "judge": "sim/echo"}),
            "judge",
        ),
        (
            json!({"dataset": {"name": "rows.jsonl", "content": "{\"prompt\": \"a\"}"}, "models": ["sim/echo"], "concurrency": 0}),
            "concurrency",
        ),
        (
            json!({"dataset": {"name": "rows.jsonl", "content": "{\"prompt\": \"a\"}"}, "models": ["sim/echo"], "colour": "red"}),
            "colour",
        ),
        (json!({"models": ["sim/echo"]}), "dataset"),
    ];
    for (body, named) in cases {
        let r = start(&s, body.clone()).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        let err: Value = r.json().await.unwrap();
        assert!(err.to_string().contains(named), "{body} → {err}");
    }
    let r = start(
        &s,
        json!({"dataset": {"name": "rows.jsonl", "content": "{\"prompt\": \"a\"}"}, "models": ["nope/model"]}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    for path in [
        "/v1/evals/nope",
        "/v1/evals/nope/stream",
        "/v1/evals/nope/report",
    ] {
        let r = client()
            .get(format!("{}{path}", s.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let r = client()
        .delete(format!("{}/v1/evals/nope", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let listed = json(client().get(format!("{}/v1/evals", s.url))).await;
    assert_eq!(listed["runs"], json!([]), "nothing was started");
}

/// Issue 45: judge calls took no active slot, so a run's judges and rows together went past
/// the user's `max_active`. With one slot, rows and judge calls take turns: the run still
/// ends, every row judged, and nothing ran beside anything else (the sim's peak of streams
/// at once is one comparison's two models).
#[tokio::test]
async fn rows_and_judge_calls_share_the_users_active_slots() {
    let mut options = ServerOptions::default();
    options.registry.max_active_per_owner = 1;
    let s = start_stored(options, sim_config(), Some(sqlite_store().await)).await;
    let r = start(
        &s,
        json!({"dataset": {"name": "rows.jsonl", "content": dataset(4)}, "models": ["sim/echo", "sim/lorem"], "judge": "sim/judge", "concurrency": 4}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Watch the sim's concurrent streams while the run goes.
    let sim = s.sim.clone();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let watching = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(sim.active_streams(), std::sync::atomic::Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
        })
    };
    let events = read_run(&s, &id, None).await;
    watching.abort();
    let summary = &events.last().unwrap().2;
    assert_eq!(events.last().unwrap().1, "summary", "{summary}");
    let rows: Vec<&Value> = events
        .iter()
        .filter(|e| e.1 == "row")
        .map(|e| &e.2)
        .collect();
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| {
        r["judge"]["pairs"]
            .as_array()
            .is_some_and(|p| !p.is_empty())
    }));
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
    assert!((1..=2).contains(&peak), "{peak} sim streams at once");
}
