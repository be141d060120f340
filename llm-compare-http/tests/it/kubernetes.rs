//! The Kubernetes runner against an in-process fake of the Kubernetes API (see `fake_kube`),
//! whose pods run the real `llm-compare worker`: a comparison gives the in-process results,
//! every way a cluster fails becomes that model's typed error, cancelling deletes the Jobs,
//! and `llm-compare serve --runner kubernetes` runs its comparisons that way.

use crate::common;
use crate::fake_kube;
use crate::remote;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use fake_kube::{FakeKube, Scenario};
use futures::StreamExt;
use llm_compare_core::{CallPolicy, CompareRequest, ErrorCode, Policies, RequestStatus};
use llm_compare_k8s::{JobSettings, KubernetesRunner};
use remote::{WORKER_SIM_ENV, cancel_two_slow_calls, same_as_in_process, sim_engine};
use serde_json::Value;

const WORKER: &str = env!("CARGO_BIN_EXE_llm-compare");

fn settings() -> JobSettings {
    let mut s = JobSettings::new("llm", "ghcr.io/llm-compare/llm-compare:test");
    s.secret = Some("llm-compare-keys".into());
    s.start_timeout = Duration::from_secs(2);
    s.env = WORKER_SIM_ENV
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    s
}

fn model_index(job: &Value) -> usize {
    job["metadata"]["labels"]["llm-compare.dev/model-index"]
        .as_str()
        .and_then(|i| i.parse().ok())
        .unwrap_or(usize::MAX)
}

async fn fake(choose: impl Fn(&Value) -> Scenario + Send + Sync + 'static) -> FakeKube {
    let secrets = BTreeMap::from([(
        "llm-compare-keys".to_string(),
        BTreeMap::from([(
            "OPENAI_API_KEY".to_string(),
            "sk-from-the-secret".to_string(),
        )]),
    )]);
    FakeKube::start(WORKER, secrets, choose).await
}

async fn eventually(what: &str, f: impl FnMut() -> bool) {
    llm_compare_testkit::eventually(what, Duration::from_secs(5), f).await;
}

#[tokio::test]
async fn a_job_per_model_gives_the_in_process_results() {
    let kube = fake(|_| Scenario::Run).await;
    let request = CompareRequest::prompt(
        ["sim/echo", "sim/lorem", "sim/flaky"],
        "the same comparison whichever runner ran it",
    );
    let runner = KubernetesRunner::new(kube.client(), settings());
    let remote = same_as_in_process(sim_engine().with_runner(Arc::new(runner)), &request).await;
    assert_eq!(
        remote.results[2].error.as_ref().unwrap().code,
        ErrorCode::Server
    );

    // One Job per model, labelled with the comparison and the model's index.
    let created = kube.created();
    assert_eq!(created.len(), 3);
    let mut indexes: Vec<usize> = created.iter().map(model_index).collect();
    indexes.sort_unstable();
    assert_eq!(indexes, [0, 1, 2]);
    for job in &created {
        let labels = &job["metadata"]["labels"];
        assert_eq!(labels["app.kubernetes.io/name"], "llm-compare");
        assert!(
            labels["llm-compare.dev/request-id"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
        );
        let container = &job["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["args"][0], "worker");
        let key = container["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "OPENAI_API_KEY")
            .unwrap();
        assert!(
            key.get("value").is_none(),
            "keys are passed by reference only"
        );
        assert_eq!(key["valueFrom"]["secretKeyRef"]["name"], "llm-compare-keys");
    }
    // Finished Jobs are left to their TTL, not deleted.
    assert!(kube.deletions().is_empty(), "{:?}", kube.deletions());
    assert_eq!(kube.jobs().len(), 3);
}

#[tokio::test]
async fn each_cluster_failure_is_that_models_typed_error() {
    // Model index → what the cluster does to its pod.
    let scenarios = [
        Scenario::Run,
        Scenario::ImagePull,
        Scenario::Unschedulable,
        Scenario::OomKill { after_lines: 3 },
        Scenario::Crash,
        Scenario::CutLog { after_lines: 2 },
        Scenario::Run, // sim/slow: past its Job's deadline
    ];
    let kube = fake(move |job| {
        scenarios
            .get(model_index(job))
            .copied()
            .unwrap_or(Scenario::Run)
    })
    .await;
    let mut s = settings();
    s.deadline_slack = Duration::ZERO;
    // The server's policy gives sim/slow 1 s; the worker (default policy) would wait longer,
    // so the Job's activeDeadlineSeconds is what stops it.
    let mut policies = Policies::new(CallPolicy::default());
    let mut short = CallPolicy::default();
    short.timeouts.total = Duration::from_secs(1);
    policies.set("sim/slow", short);
    let engine = sim_engine()
        .with_policies(policies)
        .with_runner(Arc::new(KubernetesRunner::new(kube.client(), s)));
    let request = CompareRequest::prompt(
        [
            "sim/echo",
            "sim/echo",
            "sim/echo",
            "sim/lorem",
            "sim/echo",
            "sim/lorem",
            "sim/slow",
        ],
        "each pod fails its own way",
    );
    let started = std::time::Instant::now();
    let done = engine.compare(&request).unwrap().result().await.unwrap();
    let took = started.elapsed();

    let r = &done.results;
    assert_eq!(done.status, RequestStatus::Completed);
    assert!(r[0].error.is_none(), "{:?}", r[0].error);
    assert!(
        r[0].text.contains("each pod fails its own way"),
        "{}",
        r[0].text
    );
    let code = |i: usize| r[i].error.as_ref().map(|e| e.code);
    let message = |i: usize| {
        r[i].error
            .as_ref()
            .map(|e| e.message.clone())
            .unwrap_or_default()
    };
    assert_eq!(code(1), Some(ErrorCode::ImagePull), "{}", message(1));
    assert!(
        message(1).contains("ghcr.io/llm-compare/llm-compare:test"),
        "{}",
        message(1)
    );
    assert_eq!(code(2), Some(ErrorCode::Unschedulable), "{}", message(2));
    assert!(message(2).contains("Insufficient memory"), "{}", message(2));
    assert_eq!(code(3), Some(ErrorCode::OutOfMemory), "{}", message(3));
    assert!(message(3).contains("128Mi"), "{}", message(3));
    assert_eq!(code(4), Some(ErrorCode::WorkerExit), "{}", message(4));
    assert!(message(4).contains("code 2"), "{}", message(4));
    assert_eq!(code(5), Some(ErrorCode::Network), "{}", message(5));
    assert!(message(5).contains("log stream"), "{}", message(5));
    assert_eq!(code(6), Some(ErrorCode::Timeout), "{}", message(6));
    assert!(
        message(6).contains("activeDeadlineSeconds"),
        "{}",
        message(6)
    );
    // What streamed before the OOM kill and the cut is kept, marked partial.
    assert!(r[3].partial && !r[3].text.is_empty(), "{:?}", r[3]);
    // Unschedulable waits its 2 s start timeout; nothing waits for sim/slow's 30 s.
    assert!(took < Duration::from_secs(15), "{took:?}");

    // The runner deletes the Jobs it gave up on (pull, schedule: they would wait on); the
    // finished ones (OOM, crash) are left to their TTL, the deadline's to the Job controller.
    // (The cut log's worker finishes within the runner's grace for a final status: its Job
    // is left too.)
    eventually("the deletions", || kube.deletions().len() >= 2).await;
    let deleted: Vec<String> = kube.deletions().into_iter().map(|(n, _)| n).collect();
    let deleted_index = |i: usize| {
        kube.deletions()
            .iter()
            .any(|(n, _)| n.ends_with(&format!("-{i}")))
    };
    for i in [1, 2] {
        assert!(deleted_index(i), "job {i} not deleted: {deleted:?}");
    }
    for i in [0, 3, 4] {
        assert!(!deleted_index(i), "job {i} deleted: {deleted:?}");
    }
    eventually("no worker left running", || kube.running() == 0).await;
}

#[tokio::test]
async fn cancelling_the_comparison_deletes_its_jobs() {
    let kube = fake(|_| Scenario::Run).await;
    let runner = KubernetesRunner::new(kube.client(), settings());
    cancel_two_slow_calls(sim_engine().with_runner(Arc::new(runner)), || {
        eventually("both workers running", || kube.running() == 2)
    })
    .await;
    eventually("both Jobs deleted", || kube.deletions().len() == 2).await;
    for (name, policy) in kube.deletions() {
        assert!(name.starts_with("llm-compare-"), "{name}");
        assert_eq!(policy.as_deref(), Some("Background"));
    }
    assert!(kube.jobs().is_empty());
    eventually("the workers stopped", || kube.running() == 0).await;
    assert!(kube.pod_phases().is_empty());
}

fn temp_dir(name: &str) -> llm_compare_testkit::TempDir {
    llm_compare_testkit::TempDir::new(&format!("k8s-{name}"))
}

fn serve_command(dir: &std::path::Path, kubeconfig: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(WORKER);
    cmd.args([
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--no-ui",
        "--runner",
        "kubernetes",
    ])
    .arg("--data-dir")
    .arg(dir)
    .env("KUBECONFIG", kubeconfig)
    .env_remove("LLM_COMPARE_DATABASE_URL")
    .env_remove("LLM_COMPARE_API_KEYS")
    .env_remove("KUBERNETES_SERVICE_HOST")
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    cmd
}

#[tokio::test]
async fn serve_with_the_kubernetes_runner_runs_each_model_in_a_job() {
    let kube = fake(|_| Scenario::Run).await;
    let dir = temp_dir("serve");
    let kubeconfig = kube.kubeconfig(&dir);
    let mut child = serve_command(&dir, &kubeconfig)
        .args([
            "--namespace",
            "models",
            "--worker-image",
            "llm-compare:local",
        ])
        .args(["--worker-env", "LLM_COMPARE_SIM_TTFT_MS=5"])
        .args(["--worker-env", "LLM_COMPARE_SIM_TOKENS_PER_S=400"])
        .spawn()
        .unwrap();
    let url = common::serve_url(&mut child);

    let http = reqwest::Client::new();
    let body =
        serde_json::json!({"models": ["sim/echo", "sim/lorem"], "prompt": "hello from a pod"});
    let created = common::json(http.post(format!("{url}/v1/comparisons")).json(&body)).await;
    let id = created["request_id"].as_str().unwrap().to_string();
    let mut snapshot = Value::Null;
    for _ in 0..200 {
        snapshot = common::json(http.get(format!("{url}/v1/comparisons/{id}"))).await;
        if !matches!(snapshot["status"].as_str(), Some("pending" | "running")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(snapshot["status"], "completed", "{snapshot}");
    let models = snapshot["models"].as_array().unwrap();
    assert_eq!(
        models[0]["result"]["text"], "hello from a pod",
        "{snapshot}"
    );
    assert!(models[1]["result"]["error"].is_null(), "{snapshot}");
    assert!(
        !models[1]["result"]["text"].as_str().unwrap().is_empty(),
        "{snapshot}"
    );
    let created = kube.created();
    assert_eq!(created.len(), 2);
    for job in &created {
        assert_eq!(job["metadata"]["namespace"], "models");
        assert_eq!(
            job["metadata"]["labels"]["llm-compare.dev/request-id"],
            id.as_str()
        );
        assert_eq!(
            job["spec"]["template"]["spec"]["containers"][0]["image"],
            "llm-compare:local"
        );
    }
}

#[test]
fn serve_with_the_kubernetes_runner_and_no_cluster_says_so() {
    let dir = temp_dir("nocluster");
    let out = serve_command(&dir, &dir.join("missing-kubeconfig"))
        .env_remove("HOME")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--runner kubernetes") && err.contains("Kubernetes configuration"),
        "{err}"
    );
}

/// Against a real cluster, when `LLM_COMPARE_TEST_KUBECONFIG` names a kubeconfig: a worker
/// image of this build in `LLM_COMPARE_TEST_WORKER_IMAGE` (`docker build -f deploy/Dockerfile`),
/// the namespace in `LLM_COMPARE_TEST_K8S_NAMESPACE` (default: the kubeconfig's). The runner's
/// credentials need the verbs of `deploy/kustomize/role.yaml`.
#[tokio::test]
async fn against_a_real_cluster() {
    use llm_compare_k8s::k8s_openapi::api::batch::v1::Job;
    use llm_compare_k8s::k8s_openapi::api::core::v1::Pod;
    use llm_compare_k8s::kube::api::{Api, ListParams};

    let Some(path) = std::env::var_os("LLM_COMPARE_TEST_KUBECONFIG") else {
        eprintln!(
            "SKIPPED against_a_real_cluster: set LLM_COMPARE_TEST_KUBECONFIG (and LLM_COMPARE_TEST_WORKER_IMAGE) to run it"
        );
        return;
    };
    let kubeconfig = llm_compare_k8s::kube::config::Kubeconfig::read_from(path).unwrap();
    let config =
        llm_compare_k8s::kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .unwrap();
    let namespace = std::env::var("LLM_COMPARE_TEST_K8S_NAMESPACE")
        .unwrap_or_else(|_| config.default_namespace.clone());
    let client = llm_compare_k8s::kube::Client::try_from(config).unwrap();
    let image = std::env::var("LLM_COMPARE_TEST_WORKER_IMAGE")
        .unwrap_or_else(|_| "ghcr.io/llm-compare/llm-compare:0.1.0".into());
    let mut s = settings();
    s.namespace = namespace.clone();
    s.image = image;
    s.secret = None;
    s.start_timeout = Duration::from_secs(300);
    let runner = Arc::new(KubernetesRunner::new(client.clone(), s));

    // The same results as in process.
    let request = CompareRequest::prompt(["sim/echo", "sim/lorem"], "hello from a real cluster");
    let remote = same_as_in_process(sim_engine().with_runner(runner.clone()), &request).await;
    assert!(
        remote.results.iter().all(|r| r.error.is_none()),
        "{remote:?}"
    );

    // Cancelling deletes the Jobs, and their pods go with them.
    let mut comparison = sim_engine()
        .with_runner(runner)
        .compare(&CompareRequest::prompt(["sim/slow"], "wait"))
        .unwrap();
    let selector = format!("llm-compare.dev/request-id={}", comparison.request_id());
    let cancel = comparison.cancel_token();
    let reader = tokio::spawn(async move { while comparison.next().await.is_some() {} });
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let jobs: Api<Job> = Api::namespaced(client, &namespace);
    let lp = ListParams::default().labels(&selector);
    for _ in 0..300 {
        let list = pods.list(&lp).await.unwrap();
        if list
            .items
            .iter()
            .any(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    cancel.cancel();
    reader.await.unwrap();
    for _ in 0..60 {
        if jobs.list(&lp).await.unwrap().items.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!("the cancelled comparison's Job is still there ({selector})");
}

/// An agent comparison on the Kubernetes runner: each model's whole tool loop runs in its
/// own Job, with the tools of the worker's configuration (an HTTP tool here, called by the
/// worker processes, not the server); the embedder's functions and client-side tools, which
/// cannot run there, are refused naming the field.
#[tokio::test]
async fn a_models_whole_tool_loop_runs_in_its_job_with_the_configurations_tools() {
    use serde_json::json;
    use wiremock::matchers::{body_json, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let tool = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/weather"))
        .and(body_json(json!({"city": "Oslo"})))
        .respond_with(ResponseTemplate::new(200).set_body_json("-3 °C"))
        .expect(2)
        .mount(&tool)
        .await;
    let config_text = format!(
        "[tools.get_weather]\nurl = \"{}/weather\"\ndescription = \"The weather\"\n\
         parameters = {{ type = \"object\", properties = {{ city = {{ type = \"string\" }} }}, required = [\"city\"] }}\n",
        tool.uri()
    );
    let dir = temp_dir("k8s-tools");
    let config_path = dir.join("llm-compare.toml");
    std::fs::write(&config_path, &config_text).unwrap();
    let kube = fake(|_| Scenario::Run).await;
    let mut s = settings();
    s.env.push((
        "LLM_COMPARE_CONFIG".into(),
        config_path.display().to_string(),
    ));
    let config = llm_compare_core::Config::parse(&config_text).unwrap();
    let server_tools: Arc<dyn llm_compare_core::tools::ToolExecutor> =
        Arc::new(config.http_tools().unwrap().unwrap());
    let engine = sim_engine()
        .with_tools(server_tools.clone())
        .with_runner(Arc::new(KubernetesRunner::new(kube.client(), s)));
    let request = CompareRequest::prompt(["sim/agent", "sim/agent", "sim/echo"], "Oslo");
    let options = llm_compare_core::CompareOptions::tool_loop(
        server_tools.clone(),
        Some(3),
        llm_compare_core::tools::ToolMode::Independent,
        None,
    )
    .unwrap();
    let done = engine
        .compare_calls(engine.plan(&request).unwrap(), options)
        .unwrap()
        .result()
        .await
        .unwrap();
    assert_eq!(done.status, RequestStatus::Completed);
    for r in &done.results[..2] {
        assert_eq!(r.text, "`get_weather` returned: -3 °C", "{r:?}");
        assert_eq!(r.steps, 2);
        assert_eq!(r.exchange.len(), 1);
    }
    assert_eq!(done.results[2].text, "Oslo");
    // One Job per model, each carrying its loop: two loops' calls came from the workers.
    let created = kube.created();
    assert_eq!(created.len(), 3);
    for job in &created {
        let env = job["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap()
            .clone();
        let call: Value = serde_json::from_str(
            env.iter()
                .find(|e| e["name"] == "LLM_COMPARE_CALL")
                .unwrap()["value"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(call["tool_loop"]["tools"], json!(["get_weather"]));
        assert_eq!(call["tool_loop"]["max_steps"], 3);
        // The deadline covers every step (3 × (call + tool timeout)) and the slack.
        let deadline = job["spec"]["activeDeadlineSeconds"].as_i64().unwrap();
        assert!(deadline > 3 * 30, "{deadline}");
    }
    tool.verify().await;

    // What cannot run in a Job is refused before any Job is made.
    let embedder = llm_compare_core::tools::Toolbox::new().function(
        "f",
        "f",
        json!({"type": "object"}),
        |_| async { Ok::<String, String>("x".into()) },
    );
    let refused = |options: llm_compare_core::CompareOptions| {
        engine
            .compare_calls(engine.plan(&request).unwrap(), options)
            .err()
            .unwrap()
    };
    let e = refused(llm_compare_core::CompareOptions {
        tools: Some(Arc::new(embedder)),
        ..Default::default()
    });
    assert_eq!(e.field(), Some("tools"), "{e}");
    let e = refused(llm_compare_core::CompareOptions {
        client_tools: Some(Arc::new(llm_compare_core::tools::ClientTools::new(vec![]))),
        ..Default::default()
    });
    assert_eq!(e.field(), Some("client_tools"), "{e}");
    let shared = llm_compare_core::CompareOptions::tool_loop(
        server_tools,
        None,
        llm_compare_core::tools::ToolMode::Shared,
        None,
    )
    .unwrap();
    assert_eq!(refused(shared).field(), Some("tools"));
    assert_eq!(kube.created().len(), 3);
}
