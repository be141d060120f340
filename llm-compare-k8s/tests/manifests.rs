//! Every manifest in `deploy/kustomize` and the Jobs the runner generates validate against the
//! Kubernetes OpenAPI schema (`kubernetes-validate --strict`, Kubernetes 1.35, the version
//! k8s-openapi is built for), and the manifests say what the runner needs: the minimal RBAC
//! verbs, probes and resources, a configuration the workers can load.
//!
//! The schema check needs `LLM_COMPARE_KUBERNETES_VALIDATE` (the `kubernetes-validate`
//! executable; `scripts/test` installs it from PyPI); without it the check is skipped with a
//! message, unless `LLM_COMPARE_REQUIRE_SERVICES=1` (CI), which makes it fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::rbac::v1::Role;
use llm_compare_core::{CallPolicy, ChatRequest, Message, ModelCall, ModelId};
use llm_compare_k8s::{JobSettings, job_for};

fn kustomize_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kustomize")
}

/// The files `kustomization.yaml` lists under `resources:`.
fn resources() -> Vec<PathBuf> {
    let path = kustomize_dir().join("kustomization.yaml");
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap_or_default();
    doc["resources"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_str())
        .map(|r| kustomize_dir().join(r))
        .collect()
}

fn read<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let text = std::fs::read_to_string(kustomize_dir().join(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn generated_jobs(dir: &Path) -> Vec<PathBuf> {
    let Ok(model) = ModelId::parse("openai/gpt-4o-mini") else {
        panic!("model id")
    };
    let call = ModelCall {
        request_id: "0195f3a2-7c1e-7000-8000-000000000001".into(),
        model_index: 2,
        request: ChatRequest::new(
            model,
            vec![Message::system("Be brief."), Message::user("Hello")],
        ),
        tool_loop: None,
    };
    let plain = JobSettings::new("llm", "ghcr.io/llm-compare/llm-compare:0.1.0");
    let mut full = plain.clone();
    full.secret = Some("llm-compare-keys".into());
    full.config_map = Some("llm-compare".into());
    full.service_account = Some("llm-compare-worker".into());
    full.image_pull_policy = Some("IfNotPresent".into());
    full.env = vec![("OPENAI_BASE_URL".into(), "http://gateway:8000/v1".into())];
    let mut policy = CallPolicy::default();
    policy.timeouts.total = Duration::from_millis(90_500);
    [("job-plain.json", plain), ("job-full.json", full)]
        .into_iter()
        .map(|(name, settings)| {
            let job = job_for(&call, &policy, &settings).unwrap_or_else(|e| panic!("{e}"));
            let path = dir.join(name);
            let json = serde_json::to_vec_pretty(&job).unwrap_or_default();
            std::fs::write(&path, json).unwrap_or_else(|e| panic!("{e}"));
            path
        })
        .collect()
}

#[test]
fn manifests_and_generated_jobs_validate_against_the_kubernetes_schema() {
    let dir = std::env::temp_dir().join(format!("llm-compare-manifests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = resources();
    assert_eq!(files.len(), 7, "{files:?}");
    files.extend(generated_jobs(&dir));
    let Some(validator) = std::env::var_os("LLM_COMPARE_KUBERNETES_VALIDATE") else {
        if std::env::var("LLM_COMPARE_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
            panic!("LLM_COMPARE_KUBERNETES_VALIDATE is not set but LLM_COMPARE_REQUIRE_SERVICES=1");
        }
        eprintln!(
            "SKIPPED schema validation: set LLM_COMPARE_KUBERNETES_VALIDATE to the kubernetes-validate executable (pip install kubernetes-validate)"
        );
        return;
    };
    let out = Command::new(validator)
        .args(["--kubernetes-version", "1.35.0", "--strict"])
        .args(&files)
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{report}");
    // One "passed" line per file: nothing was skipped as unknown.
    assert_eq!(
        report.matches(" passed for resource ").count(),
        files.len(),
        "{report}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_role_grants_exactly_what_the_runner_uses() {
    let role: Role = read("role.yaml");
    let mut rules: Vec<(String, Vec<String>)> = role
        .rules
        .unwrap()
        .into_iter()
        .flat_map(|r| {
            let verbs = r.verbs.clone();
            r.resources
                .unwrap_or_default()
                .into_iter()
                .map(move |res| (res, verbs.clone()))
        })
        .collect();
    rules.sort();
    let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        rules,
        vec![
            (
                "jobs".into(),
                owned(&["create", "get", "list", "watch", "delete"])
            ),
            ("pods".into(), owned(&["get", "list", "watch"])),
            ("pods/log".into(), owned(&["get"])),
        ]
    );
}

#[test]
fn the_server_deployment_is_probed_bounded_and_locked_down() {
    let d: Deployment = read("deployment.yaml");
    let pod = d.spec.unwrap().template.spec.unwrap();
    assert_eq!(pod.service_account_name.as_deref(), Some("llm-compare"));
    let c = &pod.containers[0];
    let path = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
        p.as_ref()
            .and_then(|p| p.http_get.as_ref())
            .and_then(|h| h.path.clone())
    };
    assert_eq!(path(&c.liveness_probe).as_deref(), Some("/health"));
    assert_eq!(path(&c.readiness_probe).as_deref(), Some("/ready"));
    let res = c.resources.as_ref().unwrap();
    assert!(res.requests.is_some() && res.limits.is_some());
    let sc = c.security_context.as_ref().unwrap();
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.run_as_non_root, Some(true));
    let args = c.args.as_ref().unwrap();
    assert!(args.iter().any(|a| a == "--runner=kubernetes"), "{args:?}");
    // Keys only by reference.
    let api_keys = c
        .env
        .as_ref()
        .unwrap()
        .iter()
        .find(|e| e.name == "LLM_COMPARE_API_KEYS")
        .unwrap();
    assert!(api_keys.value.is_none());
    assert!(
        api_keys
            .value_from
            .as_ref()
            .unwrap()
            .secret_key_ref
            .is_some()
    );
}

#[test]
fn the_config_map_is_a_configuration_the_workers_load() {
    let cm: ConfigMap = read("configmap.yaml");
    let toml = cm.data.unwrap().remove("llm-compare.toml").unwrap();
    let path = std::env::temp_dir().join(format!("llm-compare-cm-{}.toml", std::process::id()));
    std::fs::write(&path, toml).unwrap();
    let config = llm_compare_core::Config::load(Some(&path));
    let _ = std::fs::remove_file(&path);
    let engine = config.unwrap().engine().unwrap();
    assert_eq!(
        engine
            .policies()
            .policy("openai/gpt-4o-mini")
            .timeouts
            .total,
        Duration::from_secs(300)
    );
}
