//! An in-process fake of the Kubernetes API, as much of it as the Kubernetes runner uses:
//! create, get and delete Jobs; watch Pods by label; follow a pod's log. Each Job gets a pod
//! that goes Pending → Running → Succeeded/Failed, and "runs" its container by starting the
//! real `llm-compare worker` binary with the container's args and environment (Secret
//! references resolved from the fake's Secrets). A [`Scenario`] per Job makes the pod fail the
//! ways a cluster does: an image that cannot be pulled, no node to schedule on, OOMKilled, a
//! crashing worker, a cut log stream; `activeDeadlineSeconds` is enforced like the Job
//! controller does.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

/// How a Job's pod behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Runs the worker to its end.
    Run,
    /// The image cannot be pulled (`ErrImagePull`, then `ImagePullBackOff`).
    ImagePull,
    /// No node fits: the pod stays `Pending` with `PodScheduled=False`.
    Unschedulable,
    /// The container is OOMKilled after writing this many lines.
    OomKill { after_lines: usize },
    /// The worker is given a call it cannot read: it exits 2.
    Crash,
    /// The log stream closes after this many lines while the worker goes on.
    CutLog { after_lines: usize },
}

type Chooser = Box<dyn Fn(&Value) -> Scenario + Send + Sync>;

/// One pod's log: stdout and stderr lines, as the kubelet keeps them.
#[derive(Default)]
struct Log {
    data: Mutex<(Vec<u8>, bool)>,
    changed: Notify,
}

impl Log {
    fn push(&self, line: &str) {
        let mut d = self.data.lock();
        d.0.extend_from_slice(line.as_bytes());
        d.0.push(b'\n');
        drop(d);
        self.changed.notify_waiters();
    }
    fn close(&self) {
        self.data.lock().1 = true;
        self.changed.notify_waiters();
    }
    fn tail(&self) -> String {
        let d = self.data.lock();
        let text = String::from_utf8_lossy(&d.0);
        text.lines().last().unwrap_or("").to_string()
    }
}

struct PodEntry {
    pod: Value,
    log: Arc<Log>,
    terminate: CancellationToken,
    scenario: Scenario,
}

#[derive(Default)]
struct Objects {
    jobs: BTreeMap<String, Value>,
    pods: BTreeMap<String, PodEntry>,
}

struct Inner {
    objects: Mutex<Objects>,
    changes: broadcast::Sender<(&'static str, Value)>,
    version: AtomicU64,
    choose: Chooser,
    worker: String,
    secrets: BTreeMap<String, BTreeMap<String, String>>,
    /// Every Job deletion: (name, propagationPolicy).
    deletions: Mutex<Vec<(String, Option<String>)>>,
    /// Every Job created, as posted.
    created: Mutex<Vec<Value>>,
    /// Worker processes still running.
    running: AtomicU64,
}

/// The fake API server on loopback.
pub struct FakeKube {
    pub url: String,
    inner: Arc<Inner>,
    stop: CancellationToken,
}

impl Drop for FakeKube {
    fn drop(&mut self) {
        self.stop.cancel();
        let pods = std::mem::take(&mut self.inner.objects.lock().pods);
        for p in pods.values() {
            p.terminate.cancel();
        }
    }
}

fn status(code: u16, reason: &str, message: impl Into<String>) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message.into(), "reason": reason, "code": code});
    (StatusCode::from_u16(code).unwrap(), axum::Json(body)).into_response()
}

fn matches(selector: &str, labels: &Value) -> bool {
    selector.split(',').filter(|s| !s.is_empty()).all(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        labels.get(k).and_then(Value::as_str) == Some(v)
    })
}

impl FakeKube {
    /// A fake cluster whose pods run `worker` (the `llm-compare` binary); `choose` picks each
    /// Job's scenario; `secrets` are the namespace's Secrets.
    pub async fn start(
        worker: &str,
        secrets: BTreeMap<String, BTreeMap<String, String>>,
        choose: impl Fn(&Value) -> Scenario + Send + Sync + 'static,
    ) -> Self {
        let inner = Arc::new(Inner {
            objects: Mutex::default(),
            changes: broadcast::channel(1024).0,
            version: AtomicU64::new(1),
            choose: Box::new(choose),
            worker: worker.to_string(),
            secrets,
            deletions: Mutex::default(),
            created: Mutex::default(),
            running: AtomicU64::new(0),
        });
        let app = Router::new()
            .route("/apis/batch/v1/namespaces/{ns}/jobs", post(create_job))
            .route(
                "/apis/batch/v1/namespaces/{ns}/jobs/{name}",
                get(get_job).delete(delete_job),
            )
            .route("/api/v1/namespaces/{ns}/pods", get(watch_pods))
            .route("/api/v1/namespaces/{ns}/pods/{name}/log", get(pod_log))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(stopped.cancelled_owned())
                .await;
        });
        Self { url, inner, stop }
    }

    /// A kube client for this fake.
    pub fn client(&self) -> llm_compare_k8s::kube::Client {
        let config = llm_compare_k8s::kube::Config::new(self.url.parse().unwrap());
        llm_compare_k8s::kube::Client::try_from(config).unwrap()
    }

    /// A kubeconfig file for this fake (for `llm-compare serve --runner kubernetes`).
    pub fn kubeconfig(&self, dir: &std::path::Path) -> std::path::PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: default\n\
             current-context: fake\nusers:\n- name: fake\n  user: {{}}\n",
            self.url
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The Jobs created so far, as posted.
    pub fn created(&self) -> Vec<Value> {
        self.inner.created.lock().clone()
    }

    /// Jobs that still exist.
    pub fn jobs(&self) -> Vec<String> {
        self.inner.objects.lock().jobs.keys().cloned().collect()
    }

    /// Job deletions: (name, propagationPolicy).
    pub fn deletions(&self) -> Vec<(String, Option<String>)> {
        self.inner.deletions.lock().clone()
    }

    /// Worker processes running now.
    pub fn running(&self) -> u64 {
        self.inner.running.load(Ordering::SeqCst)
    }

    /// The phases of the pods that exist.
    pub fn pod_phases(&self) -> Vec<String> {
        self.inner
            .objects
            .lock()
            .pods
            .values()
            .map(|p| p.pod["status"]["phase"].as_str().unwrap_or("").to_string())
            .collect()
    }
}

impl Inner {
    fn next_version(&self) -> String {
        self.version.fetch_add(1, Ordering::SeqCst).to_string()
    }

    /// Changes a pod's status and tells the watchers.
    fn update_pod(&self, name: &str, f: impl FnOnce(&mut Value)) {
        let mut objects = self.objects.lock();
        let Some(entry) = objects.pods.get_mut(name) else {
            return;
        };
        f(&mut entry.pod["status"]);
        entry.pod["metadata"]["resourceVersion"] = json!(self.next_version());
        let _ = self.changes.send(("MODIFIED", entry.pod.clone()));
    }

    fn set_job_condition(&self, job: &str, kind: &str, reason: &str) {
        let mut objects = self.objects.lock();
        if let Some(j) = objects.jobs.get_mut(job) {
            j["status"]["conditions"] = json!([{"type": kind, "status": "True", "reason": reason}]);
            j["metadata"]["resourceVersion"] = json!(self.next_version());
        }
    }

    fn remove_pod(&self, name: &str) {
        let removed = self.objects.lock().pods.remove(name);
        if let Some(entry) = removed {
            entry.terminate.cancel();
            let _ = self.changes.send(("DELETED", entry.pod));
        }
    }
}

fn container_status(image: &str, state: Value) -> Value {
    json!([{"name": "worker", "image": image, "imageID": "", "ready": false,
        "restartCount": 0, "state": state}])
}

async fn create_job(
    State(inner): State<Arc<Inner>>,
    Path(ns): Path<String>,
    body: Bytes,
) -> Response {
    let Ok(mut job) = serde_json::from_slice::<Value>(&body) else {
        return status(400, "BadRequest", "the body is not JSON");
    };
    let Some(name) = job["metadata"]["name"].as_str().map(str::to_string) else {
        return status(422, "Invalid", "metadata.name: Required value");
    };
    inner.created.lock().push(job.clone());
    let scenario = (inner.choose)(&job);
    job["metadata"]["namespace"] = json!(ns);
    job["metadata"]["uid"] = json!(format!("uid-{name}"));
    job["metadata"]["resourceVersion"] = json!(inner.next_version());
    job["status"] = json!({});
    let template = job["spec"]["template"].clone();
    let mut labels = template["metadata"]["labels"].clone();
    labels["job-name"] = json!(name);
    labels["batch.kubernetes.io/job-name"] = json!(name);
    let pod_name = format!("{name}-{:05x}", fastrand::u32(..0xfffff));
    let image = template["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": pod_name, "namespace": ns, "labels": labels,
            "uid": format!("uid-{pod_name}"), "resourceVersion": inner.next_version()},
        "spec": template["spec"],
        "status": {"phase": "Pending"}
    });
    let entry = PodEntry {
        pod: pod.clone(),
        log: Arc::new(Log::default()),
        terminate: CancellationToken::new(),
        scenario,
    };
    let (log, terminate) = (entry.log.clone(), entry.terminate.clone());
    {
        let mut objects = inner.objects.lock();
        if objects.jobs.contains_key(&name) {
            return status(
                409,
                "AlreadyExists",
                format!("jobs.batch \"{name}\" already exists"),
            );
        }
        objects.jobs.insert(name.clone(), job.clone());
        objects.pods.insert(pod_name.clone(), entry);
    }
    let _ = inner.changes.send(("ADDED", pod));
    let deadline = job["spec"]["activeDeadlineSeconds"].as_u64();
    tokio::spawn(lifecycle(
        inner.clone(),
        name,
        pod_name,
        image,
        scenario,
        deadline,
        log,
        terminate,
    ));
    (StatusCode::CREATED, axum::Json(job)).into_response()
}

/// The pod's life: scheduling, pulling, running the worker, its end.
#[allow(clippy::too_many_arguments)]
async fn lifecycle(
    inner: Arc<Inner>,
    job: String,
    pod: String,
    image: String,
    scenario: Scenario,
    deadline: Option<u64>,
    log: Arc<Log>,
    terminate: CancellationToken,
) {
    let tick = Duration::from_millis(20);
    let deadline_at = deadline.map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
    let until_deadline = async move {
        match deadline_at {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(until_deadline);

    tokio::time::sleep(tick).await;
    if scenario == Scenario::Unschedulable {
        inner.update_pod(&pod, |s| {
            s["conditions"] = json!([{"type": "PodScheduled", "status": "False",
                "reason": "Unschedulable",
                "message": "0/3 nodes are available: 3 Insufficient memory."}]);
        });
        tokio::select! { () = terminate.cancelled() => {}, () = &mut until_deadline => deadline_passed(&inner, &job, &pod) }
        return;
    }
    inner.update_pod(&pod, |s| {
        s["conditions"] = json!([{"type": "PodScheduled", "status": "True"}]);
        s["containerStatuses"] =
            container_status(&image, json!({"waiting": {"reason": "ContainerCreating"}}));
    });
    tokio::time::sleep(tick).await;
    if scenario == Scenario::ImagePull {
        for reason in ["ErrImagePull", "ImagePullBackOff"] {
            inner.update_pod(&pod, |s| {
                s["containerStatuses"] = container_status(
                    &image,
                    json!({"waiting": {
                    "reason": reason,
                    "message": format!("Back-off pulling image \"{image}\": not found")}}),
                );
            });
            tokio::time::sleep(tick).await;
        }
        tokio::select! { () = terminate.cancelled() => {}, () = &mut until_deadline => deadline_passed(&inner, &job, &pod) }
        return;
    }

    // Run the container: the worker binary with the container's args and environment.
    let spec = inner
        .objects
        .lock()
        .pods
        .get(&pod)
        .map(|p| p.pod["spec"]["containers"][0].clone())
        .unwrap_or_default();
    let mut cmd = Command::new(&inner.worker);
    for a in spec["args"].as_array().into_iter().flatten() {
        cmd.arg(a.as_str().unwrap_or_default());
    }
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for e in spec["env"].as_array().into_iter().flatten() {
        let name = e["name"].as_str().unwrap_or_default();
        if let Some(v) = e["value"].as_str() {
            cmd.env(name, v);
        } else if let Some(r) = e["valueFrom"]["secretKeyRef"].as_object() {
            let secret = r["name"].as_str().unwrap_or_default();
            let key = r["key"].as_str().unwrap_or_default();
            if let Some(v) = inner.secrets.get(secret).and_then(|s| s.get(key)) {
                cmd.env(name, v);
            }
        }
    }
    if scenario == Scenario::Crash {
        cmd.env("LLM_COMPARE_CALL", "{not a call");
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    inner.running.fetch_add(1, Ordering::SeqCst);
    let pid = child.id().unwrap_or(0);
    inner.update_pod(&pod, |s| {
        s["phase"] = json!("Running");
        s["containerStatuses"] = container_status(
            &image,
            json!({"running": {"startedAt": "2026-11-23T00:00:00Z"}}),
        );
    });
    let oom = CancellationToken::new();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let out_log = log.clone();
    let oom_at = match scenario {
        Scenario::OomKill { after_lines } => Some(after_lines),
        _ => None,
    };
    let oom_signal = oom.clone();
    let out = tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        let mut n = 0;
        while let Ok(Some(line)) = lines.next_line().await {
            out_log.push(&line);
            n += 1;
            if oom_at == Some(n) {
                oom_signal.cancel();
            }
        }
    });
    let err_log = log.clone();
    let err = tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            err_log.push(&line);
        }
    });

    let mut killed_for = None;
    let exit = tokio::select! {
        status = child.wait() => status.ok().and_then(|s| s.code()).unwrap_or(137),
        () = oom.cancelled() => {
            let _ = child.kill().await;
            killed_for = Some("OOMKilled");
            137
        }
        () = terminate.cancelled() => {
            sigterm(&mut child, pid).await
        }
        () = &mut until_deadline => {
            killed_for = Some("DeadlineExceeded");
            sigterm(&mut child, pid).await
        }
    };
    let _ = out.await;
    let _ = err.await;
    log.close();
    inner.running.fetch_sub(1, Ordering::SeqCst);
    if terminate.is_cancelled() {
        return;
    }
    // The kubelet reports the exit a moment after the log closes.
    tokio::time::sleep(tick).await;
    if killed_for == Some("DeadlineExceeded") {
        deadline_passed(&inner, &job, &pod);
        return;
    }
    let reason = killed_for.unwrap_or(if exit == 0 { "Completed" } else { "Error" });
    let message = if exit != 0 { log.tail() } else { String::new() };
    inner.update_pod(&pod, |s| {
        s["phase"] = json!(if exit == 0 { "Succeeded" } else { "Failed" });
        s["containerStatuses"] = container_status(
            &image,
            json!({"terminated": {
            "exitCode": exit, "reason": reason, "message": message}}),
        );
    });
    if exit == 0 {
        inner.set_job_condition(&job, "Complete", "Completed");
    } else {
        inner.set_job_condition(&job, "Failed", "BackoffLimitExceeded");
    }
}

/// SIGTERM, then SIGKILL after a grace period, as the kubelet stops a container.
async fn sigterm(child: &mut tokio::process::Child, pid: u32) -> i32 {
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await;
    match tokio::time::timeout(Duration::from_secs(5), child.wait()).await {
        Ok(Ok(s)) => s.code().unwrap_or(143),
        _ => {
            let _ = child.kill().await;
            137
        }
    }
}

/// The Job controller at `activeDeadlineSeconds`: the Job fails, its pod is deleted.
fn deadline_passed(inner: &Inner, job: &str, pod: &str) {
    inner.set_job_condition(job, "Failed", "DeadlineExceeded");
    inner.update_pod(pod, |s| {
        s["phase"] = json!("Failed");
        s["reason"] = json!("DeadlineExceeded");
    });
    inner.remove_pod(pod);
}

async fn get_job(
    State(inner): State<Arc<Inner>>,
    Path((_ns, name)): Path<(String, String)>,
) -> Response {
    match inner.objects.lock().jobs.get(&name) {
        Some(job) => axum::Json(job.clone()).into_response(),
        None => status(404, "NotFound", format!("jobs.batch \"{name}\" not found")),
    }
}

async fn delete_job(
    State(inner): State<Arc<Inner>>,
    Path((_ns, name)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let options: Value = serde_json::from_slice(&body).unwrap_or_default();
    let policy = options["propagationPolicy"].as_str().map(str::to_string);
    let removed = inner.objects.lock().jobs.remove(&name);
    let Some(job) = removed else {
        return status(404, "NotFound", format!("jobs.batch \"{name}\" not found"));
    };
    inner.deletions.lock().push((name.clone(), policy.clone()));
    // Background and Foreground both remove the pods; Orphan would leave them.
    if policy.as_deref() != Some("Orphan") {
        let pods: Vec<String> = inner
            .objects
            .lock()
            .pods
            .iter()
            .filter(|(_, p)| p.pod["metadata"]["labels"]["job-name"] == json!(name))
            .map(|(n, _)| n.clone())
            .collect();
        for p in pods {
            inner.remove_pod(&p);
        }
    }
    axum::Json(job).into_response()
}

async fn watch_pods(
    State(inner): State<Arc<Inner>>,
    Path(_ns): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if q.get("watch").map(String::as_str) != Some("true") {
        return status(405, "MethodNotAllowed", "the fake only watches pods");
    }
    let selector = q.get("labelSelector").cloned().unwrap_or_default();
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse().ok())
        .unwrap_or(290);
    // Subscribe first, then send what exists: nothing falls between the two.
    let mut changes = inner.changes.subscribe();
    let existing: Vec<Value> = inner
        .objects
        .lock()
        .pods
        .values()
        .filter(|p| matches(&selector, &p.pod["metadata"]["labels"]))
        .map(|p| p.pod.clone())
        .collect();
    let stream = async_stream::stream! {
        for pod in existing {
            yield Ok::<_, Infallible>(Bytes::from(format!("{}\n", json!({"type": "ADDED", "object": pod}))));
        }
        let end = tokio::time::sleep(Duration::from_secs(timeout));
        tokio::pin!(end);
        loop {
            tokio::select! {
                change = changes.recv() => match change {
                    Ok((kind, pod)) if matches(&selector, &pod["metadata"]["labels"]) => {
                        yield Ok(Bytes::from(format!("{}\n", json!({"type": kind, "object": pod}))));
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                () = &mut end => break,
            }
        }
    };
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from_stream(stream))
        .unwrap()
}

async fn pod_log(
    State(inner): State<Arc<Inner>>,
    Path((_ns, name)): Path<(String, String)>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let found = inner
        .objects
        .lock()
        .pods
        .get(&name)
        .map(|p| (p.log.clone(), p.scenario, p.pod["status"]["phase"].clone()));
    let Some((log, scenario, phase)) = found else {
        return status(404, "NotFound", format!("pods \"{name}\" not found"));
    };
    if phase == json!("Pending") {
        return status(
            400,
            "BadRequest",
            format!(
                "container \"worker\" in pod \"{name}\" is waiting to start: ContainerCreating"
            ),
        );
    }
    let follow = q.get("follow").map(String::as_str) == Some("true");
    let cut_after = match scenario {
        Scenario::CutLog { after_lines } => Some(after_lines),
        _ => None,
    };
    let stream = async_stream::stream! {
        let mut sent = 0;
        let mut lines_sent = 0;
        loop {
            let changed = log.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let (chunk, closed) = {
                let d = log.data.lock();
                (d.0[sent..].to_vec(), d.1)
            };
            if !chunk.is_empty() {
                sent += chunk.len();
                // Whole lines only, so a cut falls between lines like a real one does.
                for line in chunk.split_inclusive(|b| *b == b'\n') {
                    yield Ok::<_, Infallible>(Bytes::copy_from_slice(line));
                    lines_sent += 1;
                    if cut_after == Some(lines_sent) {
                        return;
                    }
                }
                continue;
            }
            if closed || !follow {
                return;
            }
            changed.await;
        }
    };
    Response::builder()
        .header("content-type", "text/plain")
        .body(Body::from_stream(stream))
        .unwrap()
}
