//! `llm-compare serve` as a real process: logs without secrets, graceful shutdown, and the
//! refusal to serve an open API beyond loopback.

use crate::common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::{Value, json};

fn temp_dir() -> llm_compare_testkit::TempDir {
    llm_compare_testkit::TempDir::new("serve")
}

/// A server on a fresh data directory (returned: removed when dropped).
fn serve(args: &[&str], envs: &[(&str, &str)]) -> (Child, String, llm_compare_testkit::TempDir) {
    let data = temp_dir();
    let (child, url) = serve_in(&data, args, envs);
    (child, url, data)
}

fn serve_in(data: &std::path::Path, args: &[&str], envs: &[(&str, &str)]) -> (Child, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_llm-compare"));
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.env_remove("LLM_COMPARE_DATABASE_URL");
    cmd.env_remove("LLM_COMPARE_API_KEYS")
        .env("LLM_COMPARE_SIM_TTFT_MS", "5");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let url = common::serve_url(&mut child);
    (child, url)
}

/// POSTs a comparison and returns the 201 body.
async fn post_json(c: &reqwest::Client, url: &str, body: &Value) -> Value {
    common::json(c.post(format!("{url}/v1/comparisons")).json(body)).await
}

fn sigterm(child: &Child) {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
}

fn wait_exit(child: &mut Child, within: Duration) -> i32 {
    let t0 = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s.code().unwrap_or(-1);
        }
        assert!(
            t0.elapsed() < within,
            "server did not exit within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Stops the server (SIGTERM, a clean exit) and returns everything it logged.
fn stop_for_logs(child: &mut Child) -> String {
    sigterm(child);
    assert_eq!(wait_exit(child, Duration::from_secs(15)), 0);
    let mut logs = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    logs
}

#[tokio::test]
async fn logs_are_structured_and_hold_no_keys_or_prompts() {
    let (mut child, url, _data) = serve(
        &["--bind", "127.0.0.1:0", "--log-format", "json"],
        &[("LLM_COMPARE_API_KEYS", "alice:SUPERSECRET-1")],
    );
    let c = reqwest::Client::new();
    let r = c
        .post(format!("{url}/v1/comparisons"))
        .bearer_auth("SUPERSECRET-1")
        .json(&json!({"prompt": "TOP-SECRET-PROMPT", "models": ["sim/echo"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = c
        .get(format!("{url}/v1/models"))
        .header("x-api-key", "WRONG-SECRET-2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let logs = stop_for_logs(&mut child);
    for secret in ["SUPERSECRET-1", "WRONG-SECRET-2", "TOP-SECRET-PROMPT"] {
        assert!(!logs.contains(secret), "logs contain {secret}:\n{logs}");
    }
    let lines: Vec<Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let post = lines
        .iter()
        .find(|l| l["route"] == "/v1/comparisons")
        .expect("a line for the POST");
    assert_eq!(post["status"], 201);
    assert_eq!(post["user"], "alice");
    assert_eq!(post["method"], "POST");
    assert!(post["duration_ms"].is_number() && post["http_request_id"].is_string());
    let denied = lines.iter().find(|l| l["route"] == "/v1/models").unwrap();
    assert_eq!(denied["status"], 401);
}

#[tokio::test]
async fn sigterm_lets_short_comparisons_finish_and_ends_the_rest_with_shutting_down() {
    let (mut child, url, _data) = serve(
        &["--bind", "127.0.0.1:0", "--shutdown-grace", "1"],
        &[
            ("LLM_COMPARE_SIM_SLOW_TTFT_MS", "60000"),
            ("LLM_COMPARE_SIM_TOKENS_PER_S", "50"),
        ],
    );
    let c = reqwest::Client::new();
    let mut ids = Vec::new();
    for body in [
        json!({"prompt": "x", "models": ["sim/lorem"], "params": {"max_tokens": 15}}),
        json!({"prompt": "x", "models": ["sim/slow"]}),
    ] {
        let r = post_json(&c, &url, &body).await;
        ids.push(r["request_id"].as_str().unwrap().to_string());
    }
    let mut readers = Vec::new();
    for id in &ids {
        let resp = c
            .get(format!("{url}/v1/comparisons/{id}/stream"))
            .send()
            .await
            .unwrap();
        readers.push(tokio::spawn(async move {
            let mut ev = resp.bytes_stream().eventsource();
            let mut last = None;
            while let Some(Ok(e)) = ev.next().await {
                last = Some((e.event, e.id, e.data));
            }
            last.unwrap()
        }));
    }
    // Both streams are open (each reader's response came back: the server subscribed it).
    let t0 = Instant::now();
    sigterm(&child);
    // New connections are refused while draining.
    let short = readers.remove(0).await.unwrap();
    assert_eq!(
        short.0, "complete",
        "a comparison that fits in the grace period finishes: {short:?}"
    );
    let long = readers.remove(0).await.unwrap();
    assert_eq!(long.0, "error");
    let v: Value = serde_json::from_str(&long.2).unwrap();
    assert_eq!(v["code"], "shutting_down");
    // The notice sets no id of its own: the client's last event id stays that of the last
    // real event (which the notice's seq repeats), so a resume elsewhere misses nothing.
    assert_eq!(long.1, v["seq"].to_string());
    assert_eq!(wait_exit(&mut child, Duration::from_secs(10)), 0);
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(8),
        "{took:?}"
    );
}

#[test]
fn an_open_server_refuses_to_bind_beyond_loopback() {
    let out = Command::new(env!("CARGO_BIN_EXE_llm-compare"))
        .args(["serve", "--bind", "0.0.0.0:0"])
        .env_remove("LLM_COMPARE_API_KEYS")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--insecure-open") && err.contains("LLM_COMPARE_API_KEYS"),
        "{err}"
    );
    // With keys it may bind anywhere; here we only check it gets past the refusal.
    let mut child = Command::new(env!("CARGO_BIN_EXE_llm-compare"))
        .args(["serve", "--bind", "0.0.0.0:0"])
        .env("LLM_COMPARE_API_KEYS", "alice:k")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("listening on http://0.0.0.0:"), "{line}");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn kill_9_loses_nothing_that_finished_and_interrupts_what_was_running() {
    let data = temp_dir();
    let envs = [("LLM_COMPARE_SIM_TOKENS_PER_S", "20")];
    let (mut child, url) = serve_in(&data, &["--bind", "127.0.0.1:0"], &envs);
    let c = reqwest::Client::new();
    // An earlier comparison runs to the end and gets a vote.
    let done: Value = post_json(&c, &url, &json!({"prompt": "finished before the crash", "models": ["sim/echo", "sim/lorem"], "params": {"max_tokens": 5}})).await;
    let done_id = done["request_id"].as_str().unwrap().to_string();
    let mut ev = c
        .get(format!("{url}/v1/comparisons/{done_id}/stream"))
        .send()
        .await
        .unwrap()
        .bytes_stream()
        .eventsource();
    while ev.next().await.is_some() {}
    let r = c
        .post(format!("{url}/v1/comparisons/{done_id}/preference"))
        .json(&json!({"winner": 1, "feedback": "more words"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = c
        .post(format!("{url}/v1/comparisons/{done_id}/preference"))
        .json(&json!({"winner": "tie"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "one vote per comparison");
    // A slow one is streaming when the process is killed.
    let slow: Value = post_json(&c, &url, &json!({"prompt": "killed mid-stream", "models": ["sim/lorem"], "params": {"max_tokens": 200}})).await;
    let slow_id = slow["request_id"].as_str().unwrap().to_string();
    let r = c
        .post(format!("{url}/v1/comparisons/{slow_id}/preference"))
        .json(&json!({"winner": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "no vote before the comparison completed");
    let mut ev = c
        .get(format!("{url}/v1/comparisons/{slow_id}/stream"))
        .send()
        .await
        .unwrap()
        .bytes_stream()
        .eventsource();
    let mut streamed = String::new();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(1200) {
        if let Some(Ok(e)) = ev.next().await
            && e.event == "response_chunk"
        {
            let v: Value = serde_json::from_str(&e.data).unwrap();
            streamed.push_str(v["delta"].as_str().unwrap());
        }
    }
    Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
    drop(ev);

    let (mut child, url) = serve_in(&data, &["--bind", "127.0.0.1:0"], &envs);
    let before: Value = c
        .get(format!("{url}/v1/comparisons/{done_id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(before["status"], "completed");
    assert_eq!(before["models"][0]["text"], "finished before the crash");
    assert_eq!(before["models"][1]["result"]["usage"]["output_tokens"], 5);
    assert_eq!(
        before["preference"],
        json!({"winner": 1, "feedback": "more words"})
    );
    let killed: Value = c
        .get(format!("{url}/v1/comparisons/{slow_id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(killed["status"], "interrupted");
    let partial = killed["models"][0]["text"].as_str().unwrap();
    assert!(!partial.is_empty(), "the partial text was saved");
    assert!(
        streamed.starts_with(partial),
        "saved text {partial:?} is a prefix of what was streamed {streamed:?}"
    );
    sigterm(&child);
    assert_eq!(wait_exit(&mut child, Duration::from_secs(15)), 0);
    std::fs::remove_dir_all(&data).unwrap();
}

/// SSE events `(seq, type, data)` of `id` on `url` after `after`, until the stream ends or
/// `until` says stop.
async fn follow(
    c: &reqwest::Client,
    url: &str,
    id: &str,
    after: u64,
    mut until: impl FnMut(&[(u64, String, Value)]) -> bool,
) -> Vec<(u64, String, Value)> {
    let r = c
        .get(format!("{url}/v1/comparisons/{id}/stream"))
        .header("last-event-id", after.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut ev = r.bytes_stream().eventsource();
    let mut out = Vec::new();
    while !until(&out) {
        // A server killed under the stream ends it with an error: that is the end too.
        let Some(Ok(e)) = ev.next().await else { break };
        out.push((
            e.id.parse().unwrap(),
            e.event,
            serde_json::from_str(&e.data).unwrap(),
        ));
    }
    out
}

#[tokio::test]
async fn a_killed_cluster_server_restarted_ends_its_comparisons_streams_on_the_other() {
    let Some(redis) = common::redis_url("the cluster kill -9 test") else {
        return;
    };
    // Two servers sharing one database and one Redis, as a cluster.
    let data = temp_dir();
    let db = format!("sqlite://{}", data.join("shared.db").display());
    let a_id = format!("a-{}", uuid::Uuid::now_v7());
    let args = |instance: &str| {
        vec![
            "--bind".to_string(),
            "127.0.0.1:0".into(),
            "--registry".into(),
            redis.clone(),
            "--database-url".into(),
            db.clone(),
            "--instance-id".into(),
            instance.to_string(),
        ]
    };
    let start = |instance: &str, dir: &std::path::Path| {
        std::fs::create_dir_all(dir).unwrap();
        let args = args(instance);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        serve_in(dir, &args, &[("LLM_COMPARE_SIM_TOKENS_PER_S", "20")])
    };
    let (mut a, a_url) = start(&a_id, &data.join("a"));
    let (mut b, b_url) = start(&format!("b-{}", uuid::Uuid::now_v7()), &data.join("b"));
    let c = reqwest::Client::new();
    // On A: one model that finishes at once, one that streams for ~10 s.
    let posted = post_json(&c, &a_url, &json!({"prompt": "hi", "models": ["sim/echo", "sim/lorem"], "params": {"max_tokens": 200}})).await;
    let id = posted["request_id"].as_str().unwrap().to_string();
    let chunks = |evs: &[(u64, String, Value)]| {
        evs.iter()
            .filter(|e| e.1 == "response_chunk" && e.2["model_index"] == 1)
            .count()
    };
    let seen = follow(&c, &a_url, &id, 0, |evs| chunks(evs) >= 5).await;
    let last = seen.last().unwrap().0;
    Command::new("kill")
        .args(["-9", &a.id().to_string()])
        .status()
        .unwrap();
    a.wait().unwrap();
    // The client resumes on B from the last event it saw; B has nothing new until A, back
    // under its own instance id, ends what it left running.
    let resumed = tokio::spawn({
        let (c, b_url, id) = (c.clone(), b_url.clone(), id.clone());
        async move { follow(&c, &b_url, &id, last, |_| false).await }
    });
    let mut resumed = resumed;
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut resumed)
            .await
            .is_err(),
        "B's stream waits for the ending"
    );
    let (mut a, _) = start(&a_id, &data.join("a"));
    let rest = tokio::time::timeout(Duration::from_secs(15), resumed)
        .await
        .expect("B's stream ends once A has restarted")
        .unwrap();
    // Every event once, in order, from where the client left off.
    let all: Vec<u64> = seen.iter().chain(&rest).map(|e| e.0).collect();
    assert_eq!(all, (1..=all.len() as u64).collect::<Vec<_>>(), "{rest:?}");
    let end = rest.last().unwrap();
    assert_eq!(end.1, "complete", "{rest:?}");
    assert_eq!(end.2["status"], "interrupted");
    let results = &end.2["results"];
    assert_eq!(
        results[0]["text"], "hi",
        "the finished model keeps its answer"
    );
    assert!(results[0]["error"].is_null());
    assert_eq!(results[1]["error"]["code"], "interrupted");
    assert_eq!(results[1]["partial"], true);
    let streamed: String = seen
        .iter()
        .chain(&rest)
        .filter(|e| e.1 == "response_chunk" && e.2["model_index"] == 1)
        .map(|e| e.2["delta"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(results[1]["text"], streamed.as_str());
    let failed: Vec<_> = rest
        .iter()
        .filter(|e| e.1 == "error")
        .map(|e| (e.2["model_index"].clone(), e.2["code"].clone()))
        .collect();
    assert_eq!(failed, vec![(json!(1), json!("interrupted"))]);
    // Both servers now say so.
    for url in [&b_url] {
        let snap = common::json(c.get(format!("{url}/v1/comparisons/{id}"))).await;
        assert_eq!(snap["status"], "interrupted", "{snap}");
    }
    // Resuming at the end: nothing more (204), as for any finished stream.
    let r = c
        .get(format!("{b_url}/v1/comparisons/{id}/stream"))
        .header("last-event-id", end.0.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    for child in [&mut a, &mut b] {
        sigterm(child);
        assert_eq!(wait_exit(child, Duration::from_secs(15)), 0);
    }
    std::fs::remove_dir_all(&data).unwrap();
}

/// `llm-compare keys …` on the data dir of a running server, the key printed alone on
/// stdout.
fn keys_cli(data: &std::path::Path, args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_llm-compare"))
        .arg("keys")
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("LLM_COMPARE_DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[tokio::test]
async fn stored_keys_from_the_cli_work_are_revoked_by_it_and_never_logged() {
    let data = temp_dir();
    // A fresh install mints its admin key without a server: the secret alone on stdout.
    let out = keys_cli(
        &data,
        &["create", "--user", "root", "--admin", "--name", "ops"],
    );
    let admin = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(
        admin.starts_with("lcsk_") && !admin.contains('\n'),
        "{admin}"
    );
    let details = String::from_utf8(out.stderr).unwrap();
    assert!(
        details.contains("\"scope\":\"admin\"") && !details.contains(&admin),
        "{details}"
    );
    let (mut child, url) = serve_in(
        &data,
        &["--bind", "127.0.0.1:0", "--log-format", "json"],
        &[],
    );
    let c = reqwest::Client::new();
    // Closed: keys exist.
    let r = c.get(format!("{url}/v1/models")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let minted = common::json(
        c.post(format!("{url}/v1/keys"))
            .bearer_auth(&admin)
            .json(&json!({"user": "ann", "models": ["sim/*"]})),
    )
    .await;
    let user_key = minted["key"].as_str().unwrap().to_string();
    let id = minted["id"].as_str().unwrap().to_string();
    let r = c
        .post(format!("{url}/v1/comparisons"))
        .bearer_auth(&user_key)
        .json(&json!({"prompt": "hi", "models": ["sim/echo"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let listed = String::from_utf8(keys_cli(&data, &["list", "--json"]).stdout).unwrap();
    assert!(listed.contains(&id) && !listed.contains(&user_key) && !listed.contains(&admin));
    // Revoked by the CLI, in another process: the server refuses it within a second.
    keys_cli(&data, &["revoke", &id]);
    let t0 = Instant::now();
    loop {
        let r = c
            .get(format!("{url}/v1/keys/self"))
            .bearer_auth(&user_key)
            .send()
            .await
            .unwrap();
        if r.status() == 401 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(1),
            "still accepted after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let logs = stop_for_logs(&mut child);
    assert!(logs.contains("\"user\":\"ann\""), "{logs}");
    for secret in [&admin, &user_key] {
        assert!(
            !logs.contains(secret.as_str()),
            "logs contain a secret:\n{logs}"
        );
    }
}

/// An evaluation run by `llm-compare eval` on a data directory, then `serve` on it: the run's
/// rows are the server's comparisons, the judge's verdicts its `source=judge` leaderboard
/// (`sim/echo` first: it repeats the question's words), not the human one; a person's vote on
/// one of them gives the judge–human agreement.
#[tokio::test]
async fn an_eval_runs_judge_votes_rank_models_on_the_servers_leaderboard() {
    let data = temp_dir();
    let dataset = data.join("rows.jsonl");
    let rows: Vec<String> = (0..6)
        .map(|i| serde_json::json!({"id": format!("q{i}"), "prompt": format!("name the color of the sky on day {i}"), "expected": "sky"}).to_string())
        .collect();
    std::fs::write(&dataset, rows.join("\n")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_llm-compare"))
        .args([
            "eval",
            dataset.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ])
        .args([
            "-m",
            "sim/lorem",
            "-m",
            "sim/echo",
            "--judge",
            "sim/judge",
            "--json",
        ])
        .env_remove("LLM_COMPARE_DATABASE_URL")
        .env("LLM_COMPARE_SIM_TTFT_MS", "1")
        .env("LLM_COMPARE_SIM_TOKENS_PER_S", "0")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let first_row = lines[1]["comparison_id"].as_str().unwrap().to_string();

    let (mut child, url) = serve_in(&data, &["--bind", "127.0.0.1:0"], &[]);
    let c = reqwest::Client::new();
    let board = |source: &'static str| {
        let c = c.clone();
        let url = url.clone();
        async move { common::json(c.get(format!("{url}/v1/leaderboard?source={source}"))).await }
    };
    let judged = board("judge").await;
    assert_eq!(judged["source"], "judge");
    assert_eq!(judged["votes"], 6, "{judged}");
    assert_eq!(judged["models"][0]["model"], "sim/echo", "{judged}");
    assert_eq!(judged["models"][0]["wins"], 6);
    let human = board("human").await;
    assert_eq!(human["votes"], 0, "{human}");
    let bad = c
        .get(format!("{url}/v1/leaderboard?source=robots"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), reqwest::StatusCode::BAD_REQUEST);
    // A person agrees with the judge on one row: sim/echo (model_index 1) won.
    let r = c
        .post(format!("{url}/v1/comparisons/{first_row}/preference"))
        .json(&serde_json::json!({"winner": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    let all = board("all").await;
    assert_eq!(all["votes"], 7, "{all}");
    assert_eq!(all["agreement"]["pairs"], 1, "{all}");
    assert_eq!(all["agreement"]["rate"], 1.0);
    sigterm(&child);
    wait_exit(&mut child, Duration::from_secs(10));
}
