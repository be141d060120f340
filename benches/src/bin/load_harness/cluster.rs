//! `soak` and `failover`: long mixed traffic sampled over time, and a cluster surviving one
//! server's SIGKILL.

use super::*;

/// The soak: mixed traffic against one server for `--soak`, sampled every 10 s.
pub(crate) async fn soak(args: &Args, out: &mut Value) {
    let (mock_addr, _stats) = mock_upstream::spawn(
        "127.0.0.1:0".parse().unwrap(),
        MockConfig::instant(args.chunks),
    )
    .await
    .unwrap();
    // The server tool agent comparisons call.
    let tool = axum::Router::new().route(
        "/square",
        axum::routing::post(|axum::Json(v): axum::Json<Value>| async move {
            axum::Json(json!(v["x"].as_f64().unwrap_or(0.0).powi(2).to_string()))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tool_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, tool).await });
    let mut config = server_config(&[("mock", mock_addr)]).replace(
        "retention_s = 60",
        &format!("retention_s = {}", args.soak_retention_s),
    );
    config.push_str(&format!(
        "[tools.square]\nurl = \"http://{tool_addr}/square\"\ndescription = \"Squares a number\"\n\
         parameters = {{ type = \"object\", properties = {{ x = {{ type = \"number\" }} }}, required = [\"x\"] }}\n"
    ));
    let server = harness::serve(
        &args.bin,
        &config,
        &[
            ("LLM_COMPARE_SIM_TTFT_MS", "20"),
            ("LLM_COMPARE_SIM_TOKENS_PER_S", "200"),
            ("LLM_COMPARE_SIM_SLOW_TTFT_MS", "5000"),
        ],
        &args.out.join("serve-soak.log"),
    )
    .unwrap();
    let result = llm_compare_benches::soak::run(llm_compare_benches::soak::SoakConfig {
        url: server.url.clone(),
        pid: server.pid(),
        data_dir: server.dir().map(Path::to_path_buf),
        duration: args.soak,
        clients: args.soak_clients,
        warmup: Duration::from_secs(args.soak_retention_s).min(args.soak / 2),
        every: Duration::from_secs(10),
        chat_model: "mock/mock-1".into(),
        tool: "square".into(),
    })
    .await;
    eprintln!(
        "soak: {:.0} ops/s, {} 5xx, RSS {} → {} KiB after warm-up ({:+.1} %), fds {} → {}",
        result["ops_per_s"].as_f64().unwrap_or(0.0),
        result["server_errors"],
        result["rss_warm_kib"],
        result["rss_end_kib"],
        result["rss_growth"].as_f64().unwrap_or(f64::NAN) * 100.0,
        result["fd_warm"],
        result["fd_end"]
    );
    out["soak"] = result;
}

/// Two servers of a cluster (Redis registry, one database) under comparisons posted to one
/// and streamed from the other; server A is killed (SIGKILL) after 10 s and restarted 5 s
/// later under the same instance id. See `llm_compare_benches::failover`.
pub(crate) async fn failover(args: &Args, out: &mut Value) {
    use llm_compare_benches::failover::{Cluster, FailoverConfig, drive};
    let addr = args
        .redis_url
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    if tokio::net::TcpStream::connect(&addr).await.is_err() {
        eprintln!("failover: skipped, no Redis at {}", args.redis_url);
        out["failover"] = json!({"skipped": format!("no Redis at {}", args.redis_url)});
        return;
    }
    let shared = harness::temp_dir("failover").unwrap();
    let db = args
        .failover_database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", shared.join("cluster.db").display()));
    let run = std::process::id();
    let instances = [format!("failover-a-{run}"), format!("failover-b-{run}")];
    let env = |i: usize| {
        vec![
            ("LLM_COMPARE_SIM_TTFT_MS", "20".to_string()),
            ("LLM_COMPARE_SIM_TOKENS_PER_S", "50".to_string()),
            ("LLM_COMPARE_DATABASE_URL", db.clone()),
            ("LLM_COMPARE_REGISTRY_URL", args.redis_url.clone()),
            ("LLM_COMPARE_INSTANCE_ID", instances[i].clone()),
        ]
    };
    let start = |i: usize, dir: Option<std::path::PathBuf>, log: &str| {
        let env = env(i);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let log = args.out.join(format!("serve-failover-{log}.log"));
        match dir {
            Some(dir) => harness::serve_in(dir, &args.bin, &server_config(&[]), &env, &log),
            None => harness::serve(&args.bin, &server_config(&[]), &env, &log),
        }
        .unwrap()
    };
    let a = start(0, None, "a");
    let b = start(1, None, "b");
    let cluster = Arc::new(Cluster::new(vec![a.url.clone(), b.url.clone()]));
    let (kill_at, down_for, duration) = (
        Duration::from_secs(10),
        Duration::from_secs(5),
        Duration::from_secs(30),
    );
    let driving = tokio::spawn(drive(
        cluster.clone(),
        FailoverConfig {
            clients: args.failover_clients,
            duration,
            body: json!({"prompt": "failover", "models": ["sim/echo", "sim/lorem"],
                "params": {"max_tokens": 60}}),
            deadline: Duration::from_secs(60),
        },
    ));
    tokio::time::sleep(kill_at).await;
    let active_a = active(&a.url).await;
    // The balancer stops sending to A as it dies.
    cluster.set(0, None);
    let dir = a.kill_9();
    let killed = Instant::now();
    tokio::time::sleep(down_for).await;
    let a = start(0, dir, "a-restarted");
    let back_after = killed.elapsed();
    cluster.set(0, Some(a.url.clone()));
    let mut result = driving.await.unwrap();
    // The store agrees with the streams: read back on B, every comparison that ended
    // `interrupted` is stored so.
    let http = reqwest::Client::new();
    let ids: Vec<String> = result["ids_interrupted"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut stored = 0;
    for id in &ids {
        let v: Value = http
            .get(format!("{}/v1/comparisons/{id}", b.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or(Value::Null);
        stored += usize::from(v["status"] == "interrupted");
    }
    result["ids_interrupted"] = json!(ids.len());
    result["stored_interrupted"] = json!(stored);
    result["verdicts"]["store_agrees"] = json!(stored == ids.len());
    result["running_on_a_at_kill"] = json!(active_a);
    result["clients"] = json!(args.failover_clients);
    result["seconds"] = json!(duration.as_secs());
    result["kill_at_s"] = json!(kill_at.as_secs());
    result["restarted_after_s"] = json!(back_after.as_secs_f64());
    result["database"] = json!(if args.failover_database_url.is_some() {
        "postgres"
    } else {
        "sqlite (shared file)"
    });
    eprintln!(
        "failover: {} comparisons, {} resumed, {} broken, A's: {} completed + {} interrupted, B's: {} completed, {} 5xx",
        result["comparisons"],
        result["resumed"],
        result["broken"],
        result["killed_server"]["completed"],
        result["killed_server"]["interrupted"],
        result["surviving_server"]["completed"],
        result["server_errors"]
    );
    drop((a, b));
    let _ = std::fs::remove_dir_all(&shared);
    out["failover"] = result;
}
