//! The Job for one model call: a pure function of the call, its policy and the runner's
//! settings (no API access), so what the runner creates can be checked — and validated
//! against the Kubernetes schema — without a cluster.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, EmptyDirVolumeSource, EnvVar, EnvVarSource,
    PodSecurityContext, PodSpec, PodTemplateSpec, ResourceRequirements, SeccompProfile,
    SecretKeySelector, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use llm_compare_core::{CallPolicy, Error, ModelCall};

/// The label every object of llm-compare carries (`app.kubernetes.io/name`).
pub const APP_LABEL: &str = "app.kubernetes.io/name";
/// The label naming the comparison a worker belongs to.
pub const REQUEST_LABEL: &str = "llm-compare.dev/request-id";
/// The label naming the model's position in the comparison.
pub const MODEL_INDEX_LABEL: &str = "llm-compare.dev/model-index";
/// The worker's container name (the runner follows this container's log).
pub const CONTAINER: &str = "worker";
/// Where the ConfigMap holding `llm-compare.toml` is mounted in the worker.
pub const CONFIG_DIR: &str = "/etc/llm-compare";

/// The largest call (JSON) the runner passes in an environment variable. Kubernetes keeps a
/// whole object under ~1.5 MB; a larger call is refused rather than rejected by the API.
pub const MAX_CALL_BYTES: usize = 1024 * 1024;

/// CPU and memory for each worker (Kubernetes quantities: `100m`, `128Mi`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    /// CPU the scheduler reserves.
    pub cpu_request: String,
    /// Memory the scheduler reserves.
    pub memory_request: String,
    /// CPU the worker may use.
    pub cpu_limit: String,
    /// Memory the worker may use (past it, it is OOMKilled).
    pub memory_limit: String,
}

impl Default for Resources {
    fn default() -> Self {
        // One model call is one HTTP stream: a few MB and little CPU.
        Self {
            cpu_request: "50m".into(),
            memory_request: "32Mi".into(),
            cpu_limit: "500m".into(),
            memory_limit: "128Mi".into(),
        }
    }
}

/// How the runner makes its Jobs.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSettings {
    /// The namespace the Jobs run in.
    pub namespace: String,
    /// The worker image (it runs `llm-compare worker`).
    pub image: String,
    /// `imagePullPolicy` (default: Kubernetes' own, from the tag).
    pub image_pull_policy: Option<String>,
    /// The Secret holding the providers' API keys; each key named in `secret_keys` becomes the
    /// environment variable of that name (optional: a missing key only disables its provider).
    pub secret: Option<String>,
    /// The keys read from `secret` (default: every built-in provider's key variable).
    pub secret_keys: Vec<String>,
    /// A ConfigMap holding `llm-compare.toml` (providers, base URLs, policies), mounted at
    /// [`CONFIG_DIR`].
    pub config_map: Option<String>,
    /// The worker pods' service account (default: the namespace's `default`); its token is not
    /// mounted, the worker never calls the Kubernetes API.
    pub service_account: Option<String>,
    /// CPU and memory.
    pub resources: Resources,
    /// How long a finished Job is kept (`ttlSecondsAfterFinished`).
    pub ttl_after_finished: Duration,
    /// How long a worker may stay pending (scheduling, pulling) before the call fails as
    /// `unschedulable`.
    pub start_timeout: Duration,
    /// Added to the model's total timeout to make the Job's `activeDeadlineSeconds` (the
    /// deadline counts from the Job's start, pulling and scheduling included; the worker
    /// enforces the total timeout itself, the deadline is the backstop).
    pub deadline_slack: Duration,
    /// More plain environment variables for the worker.
    pub env: Vec<(String, String)>,
}

impl JobSettings {
    /// Settings for `image` in `namespace`, everything else by default.
    pub fn new(namespace: impl Into<String>, image: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            image: image.into(),
            image_pull_policy: None,
            secret: None,
            secret_keys: llm_compare_core::providers::PRESETS
                .iter()
                .flat_map(|p| p.key_envs.iter().map(|k| (*k).to_string()))
                .collect(),
            config_map: None,
            service_account: None,
            resources: Resources::default(),
            ttl_after_finished: Duration::from_secs(300),
            start_timeout: Duration::from_secs(120),
            deadline_slack: Duration::from_secs(30),
            env: Vec::new(),
        }
    }
}

/// A label value from arbitrary text: at most 63 characters of `[A-Za-z0-9._-]`, starting and
/// ending with an alphanumeric (request ids are UUIDs, which pass unchanged).
pub fn label_value(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    cleaned
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

/// The Job's name: `llm-compare-<request id>-<model index>`, a DNS label (lowercase, ≤ 63).
pub fn job_name(call: &ModelCall) -> String {
    let suffix = format!("-{}", call.model_index);
    let id: String = call
        .request_id
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(63 - "llm-compare-".len() - suffix.len())
        .collect();
    let id = id.trim_matches('-');
    format!("llm-compare-{id}{suffix}")
}

/// The labels of a call's Job and pod.
pub fn call_labels(call: &ModelCall) -> BTreeMap<String, String> {
    BTreeMap::from([
        (APP_LABEL.to_string(), "llm-compare".to_string()),
        (
            "app.kubernetes.io/component".to_string(),
            "worker".to_string(),
        ),
        (REQUEST_LABEL.to_string(), label_value(&call.request_id)),
        (MODEL_INDEX_LABEL.to_string(), call.model_index.to_string()),
    ])
}

/// The label selector that finds a call's pod.
pub fn pod_selector(call: &ModelCall) -> String {
    format!(
        "{APP_LABEL}=llm-compare,{REQUEST_LABEL}={},{MODEL_INDEX_LABEL}={}",
        label_value(&call.request_id),
        call.model_index
    )
}

/// `activeDeadlineSeconds` for a call: its total timeout plus the slack, rounded up.
pub fn active_deadline(policy: &CallPolicy, settings: &JobSettings) -> i64 {
    deadline(policy.timeouts.total + settings.deadline_slack)
}

/// `activeDeadlineSeconds` for `call`: one step's, or with a tool loop every step's worst case
/// (the model's total timeout and a tool timeout per step) plus the slack.
pub fn call_deadline(call: &ModelCall, policy: &CallPolicy, settings: &JobSettings) -> i64 {
    match &call.tool_loop {
        None => active_deadline(policy, settings),
        Some(l) => deadline(
            (policy.timeouts.total + Duration::from_millis(l.timeout_ms))
                .saturating_mul(l.max_steps)
                + settings.deadline_slack,
        ),
    }
}

fn deadline(d: Duration) -> i64 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    i64::try_from(secs.max(1)).unwrap_or(i64::MAX)
}

fn quantities(cpu: &str, memory: &str) -> BTreeMap<String, Quantity> {
    BTreeMap::from([
        ("cpu".to_string(), Quantity(cpu.to_string())),
        ("memory".to_string(), Quantity(memory.to_string())),
    ])
}

fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: Some(value.into()),
        ..EnvVar::default()
    }
}

/// The Job that makes `call` (see the module docs). Fails only when the call is too large to
/// pass to the worker.
pub fn job_for(
    call: &ModelCall,
    policy: &CallPolicy,
    settings: &JobSettings,
) -> Result<Job, Error> {
    let call_json = serde_json::to_string(call)
        .map_err(|e| Error::Internal(format!("encoding the call: {e}")))?;
    if call_json.len() > MAX_CALL_BYTES {
        return Err(Error::invalid(
            "messages",
            format!(
                "the call is {} bytes of JSON; the Kubernetes runner passes at most {MAX_CALL_BYTES}",
                call_json.len()
            ),
        ));
    }
    let labels = call_labels(call);
    let mut vars = vec![
        env("LLM_COMPARE_CALL", call_json),
        env("LLM_COMPARE_LOG", "warn"),
    ];
    if let Some(secret) = &settings.secret {
        vars.extend(settings.secret_keys.iter().map(|key| EnvVar {
            name: key.clone(),
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: secret.clone(),
                    key: key.clone(),
                    optional: Some(true),
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        }));
    }
    let mut mounts = vec![VolumeMount {
        name: "tmp".into(),
        mount_path: "/tmp".into(),
        ..VolumeMount::default()
    }];
    let mut volumes = vec![Volume {
        name: "tmp".into(),
        empty_dir: Some(EmptyDirVolumeSource {
            size_limit: Some(Quantity("16Mi".into())),
            ..EmptyDirVolumeSource::default()
        }),
        ..Volume::default()
    }];
    if let Some(config_map) = &settings.config_map {
        vars.push(env(
            "LLM_COMPARE_CONFIG",
            format!("{CONFIG_DIR}/llm-compare.toml"),
        ));
        mounts.push(VolumeMount {
            name: "config".into(),
            mount_path: CONFIG_DIR.into(),
            read_only: Some(true),
            ..VolumeMount::default()
        });
        volumes.push(Volume {
            name: "config".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: config_map.clone(),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        });
    }
    vars.extend(settings.env.iter().map(|(k, v)| env(k, v.clone())));

    let container = Container {
        name: CONTAINER.into(),
        image: Some(settings.image.clone()),
        image_pull_policy: settings.image_pull_policy.clone(),
        args: Some(vec!["worker".into()]),
        env: Some(vars),
        resources: Some(ResourceRequirements {
            requests: Some(quantities(
                &settings.resources.cpu_request,
                &settings.resources.memory_request,
            )),
            limits: Some(quantities(
                &settings.resources.cpu_limit,
                &settings.resources.memory_limit,
            )),
            ..ResourceRequirements::default()
        }),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            privileged: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                add: None,
            }),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(mounts),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Container::default()
    };
    Ok(Job {
        metadata: ObjectMeta {
            name: Some(job_name(call)),
            namespace: Some(settings.namespace.clone()),
            labels: Some(labels.clone()),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            active_deadline_seconds: Some(call_deadline(call, policy, settings)),
            ttl_seconds_after_finished: Some(
                i32::try_from(settings.ttl_after_finished.as_secs()).unwrap_or(i32::MAX),
            ),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    service_account_name: settings.service_account.clone(),
                    automount_service_account_token: Some(false),
                    enable_service_links: Some(false),
                    termination_grace_period_seconds: Some(10),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(65532),
                        run_as_group: Some(65532),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".into(),
                            ..SeccompProfile::default()
                        }),
                        ..PodSecurityContext::default()
                    }),
                    containers: vec![container],
                    volumes: Some(volumes),
                    ..PodSpec::default()
                }),
            },
            ..JobSpec::default()
        }),
        status: None,
    })
}

#[cfg(test)]
mod tests {
    use llm_compare_core::{ChatRequest, Message, ModelId};

    use super::*;

    fn prompt(text: impl Into<llm_compare_core::Content>) -> ChatRequest {
        let model = ModelId::parse("sim/echo").unwrap_or_else(|e| panic!("{e}"));
        ChatRequest::new(model, vec![Message::user(text)])
    }

    fn call(id: &str, index: usize) -> ModelCall {
        ModelCall {
            request_id: id.into(),
            model_index: index,
            request: prompt("hi"),
            tool_loop: None,
        }
    }

    #[test]
    fn names_and_labels_are_valid_for_any_request_id() {
        let c = call("0195F3A2-7C1E-7000-8000-000000000001", 3);
        assert_eq!(
            job_name(&c),
            "llm-compare-0195f3a2-7c1e-7000-8000-000000000001-3"
        );
        let odd = call(&format!("{}/weird id!", "x".repeat(100)), 12);
        let name = job_name(&odd);
        assert!(name.len() <= 63 && name.ends_with("-12"), "{name}");
        let label = label_value(&odd.request_id);
        assert!(label.len() <= 63);
        assert!(
            label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        );
        assert_eq!(label_value("--a b--"), "a-b");
    }

    #[test]
    fn the_job_is_isolated_and_bounded() {
        let mut policy = CallPolicy::default();
        policy.timeouts.total = Duration::from_millis(2500);
        let mut settings = JobSettings::new("models", "llm-compare:test");
        settings.secret = Some("llm-keys".into());
        settings.config_map = Some("llm-compare".into());
        let job = job_for(&call("r1", 0), &policy, &settings).unwrap();
        let spec = job.spec.unwrap();
        assert_eq!(spec.backoff_limit, Some(0));
        assert_eq!(spec.active_deadline_seconds, Some(33));
        assert_eq!(spec.ttl_seconds_after_finished, Some(300));
        let pod = spec.template.spec.unwrap();
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        assert_eq!(pod.automount_service_account_token, Some(false));
        let c = &pod.containers[0];
        let sc = c.security_context.as_ref().unwrap();
        assert_eq!(sc.run_as_non_root, Some(true));
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(
            sc.capabilities.as_ref().unwrap().drop.as_deref(),
            Some(&["ALL".to_string()][..])
        );
        let env = c.env.as_ref().unwrap();
        let call_var = env.iter().find(|e| e.name == "LLM_COMPARE_CALL").unwrap();
        let back: ModelCall = serde_json::from_str(call_var.value.as_deref().unwrap()).unwrap();
        assert_eq!(back, call("r1", 0));
        // Keys only by reference, never inline.
        let key = env.iter().find(|e| e.name == "OPENAI_API_KEY").unwrap();
        assert!(key.value.is_none());
        let r = key
            .value_from
            .as_ref()
            .unwrap()
            .secret_key_ref
            .as_ref()
            .unwrap();
        assert_eq!(
            (r.name.as_str(), r.key.as_str(), r.optional),
            ("llm-keys", "OPENAI_API_KEY", Some(true))
        );
        assert!(env.iter().any(|e| e.name == "LLM_COMPARE_CONFIG"));
        let limits = c.resources.as_ref().unwrap().limits.as_ref().unwrap();
        assert_eq!(limits["memory"].0, "128Mi");
    }

    #[test]
    fn without_a_secret_no_key_is_passed() {
        let job = job_for(
            &call("r1", 0),
            &CallPolicy::default(),
            &JobSettings::new("ns", "img"),
        )
        .unwrap();
        let env = job.spec.unwrap().template.spec.unwrap().containers[0]
            .env
            .clone()
            .unwrap();
        assert!(env.iter().all(|e| !e.name.ends_with("_API_KEY")));
    }

    #[test]
    fn a_call_too_large_for_an_env_var_is_refused() {
        let mut c = call("r1", 0);
        c.request = prompt("x".repeat(MAX_CALL_BYTES + 1));
        let e = job_for(&c, &CallPolicy::default(), &JobSettings::new("ns", "img")).unwrap_err();
        assert_eq!(e.code(), llm_compare_core::ErrorCode::InvalidRequest);
    }
}
