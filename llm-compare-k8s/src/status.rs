//! What a worker pod's and Job's status say about the call: pure functions over the objects
//! the runner watched, turning Kubernetes' reasons into the engine's typed errors.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ContainerState, Pod};
use llm_compare_core::{Error, ErrorCode, ProviderError};

use crate::job::CONTAINER;

/// Waiting reasons that mean the image will not come (Kubernetes keeps retrying
/// `ImagePullBackOff` forever; a model call cannot wait that long).
const IMAGE_PULL_REASONS: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
];

fn worker_state(pod: &Pod) -> Option<&ContainerState> {
    pod.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find(|c| c.name == CONTAINER)?
        .state
        .as_ref()
}

fn error(code: ErrorCode, message: String) -> Error {
    ProviderError::new(code, message).into()
}

/// The pod's phase (`Pending`, `Running`, `Succeeded`, `Failed`, `Unknown`).
pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Pending")
}

/// Whether the pod is done (`Succeeded` or `Failed`).
pub fn is_finished(pod: &Pod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

/// Whether the worker container runs or ran: its log can be followed.
pub fn has_started(pod: &Pod) -> bool {
    worker_state(pod).is_some_and(|s| s.running.is_some() || s.terminated.is_some())
        || is_finished(pod)
}

/// A failure that keeps the worker from ever starting (its image cannot be pulled).
pub fn start_failure(pod: &Pod) -> Option<Error> {
    let waiting = worker_state(pod)?.waiting.as_ref()?;
    let reason = waiting.reason.as_deref()?;
    IMAGE_PULL_REASONS.contains(&reason).then(|| {
        let image = pod
            .spec
            .as_ref()
            .and_then(|s| s.containers.iter().find(|c| c.name == CONTAINER))
            .and_then(|c| c.image.as_deref())
            .unwrap_or("?");
        let detail = waiting.message.as_deref().unwrap_or("");
        error(
            ErrorCode::ImagePull,
            format!("the worker image {image} could not be pulled ({reason}) {detail}")
                .trim_end()
                .to_string(),
        )
    })
}

/// Why the pod is still pending, in Kubernetes' words (the scheduler's message, or the
/// container's waiting reason).
pub fn pending_reason(pod: Option<&Pod>) -> String {
    let Some(pod) = pod else {
        return "no pod was created for the Job".into();
    };
    let unscheduled = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.type_ == "PodScheduled" && c.status == "False")
        })
        .map(|c| {
            format!(
                "{}: {}",
                c.reason.as_deref().unwrap_or("Unschedulable"),
                c.message.as_deref().unwrap_or("not scheduled")
            )
        });
    unscheduled
        .or_else(|| {
            let waiting = worker_state(pod)?.waiting.as_ref()?;
            Some(format!(
                "{}{}",
                waiting.reason.as_deref().unwrap_or("waiting"),
                waiting
                    .message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ))
        })
        .unwrap_or_else(|| format!("phase {}", phase(pod)))
}

/// The call failed because its worker did not start within `waited`.
pub fn unschedulable(pod: Option<&Pod>, waited: std::time::Duration) -> Error {
    error(
        ErrorCode::Unschedulable,
        format!(
            "the worker did not start within {}s ({})",
            waited.as_secs_f64(),
            pending_reason(pod)
        ),
    )
}

/// The Job's deadline (`activeDeadlineSeconds`) passed, by its conditions or its pod's reason.
fn deadline_exceeded(job: Option<&Job>, pod: Option<&Pod>) -> bool {
    let by_job = job
        .and_then(|j| j.status.as_ref())
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.type_ == "Failed"
                    && c.status == "True"
                    && c.reason.as_deref() == Some("DeadlineExceeded")
            })
        });
    let by_pod = pod
        .and_then(|p| p.status.as_ref())
        .is_some_and(|s| s.reason.as_deref() == Some("DeadlineExceeded"));
    by_job || by_pod
}

/// Why a call whose events stopped before its last one failed: the Job's deadline passed
/// (`timeout`), the worker was OOMKilled (`out_of_memory`) or exited non-zero
/// (`worker_exit`); otherwise the log stream was cut (`network`, with `cut` as the message).
pub fn end_failure(job: Option<&Job>, pod: Option<&Pod>, cut: &str) -> Error {
    if deadline_exceeded(job, pod) {
        let secs = job
            .and_then(|j| j.spec.as_ref())
            .and_then(|s| s.active_deadline_seconds)
            .map(|s| format!(" of {s}s"))
            .unwrap_or_default();
        return error(
            ErrorCode::Timeout,
            format!(
                "the Job's deadline{secs} (activeDeadlineSeconds) passed before the call ended"
            ),
        );
    }
    if let Some(t) = pod
        .and_then(worker_state)
        .and_then(|s| s.terminated.as_ref())
    {
        let detail = t
            .message
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(|m| format!(": {}", m.lines().last().unwrap_or(m)))
            .unwrap_or_default();
        if t.reason.as_deref() == Some("OOMKilled") {
            let limit = pod
                .and_then(|p| p.spec.as_ref())
                .and_then(|s| s.containers.iter().find(|c| c.name == CONTAINER))
                .and_then(|c| c.resources.as_ref())
                .and_then(|r| r.limits.as_ref())
                .and_then(|l| l.get("memory"))
                .map(|q| format!(" of {}", q.0))
                .unwrap_or_default();
            return error(
                ErrorCode::OutOfMemory,
                format!("the worker went over its memory limit{limit} and was killed (OOMKilled)"),
            );
        }
        if t.exit_code != 0 {
            return error(
                ErrorCode::WorkerExit,
                format!("the worker exited with code {}{detail}", t.exit_code),
            );
        }
    }
    error(ErrorCode::Network, cut.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(value: serde_json::Value) -> Pod {
        serde_json::from_value(value).unwrap()
    }

    fn worker_status(state: serde_json::Value) -> Pod {
        pod(serde_json::json!({
            "spec": {"containers": [{"name": "worker", "image": "llm-compare:nope",
                "resources": {"limits": {"memory": "64Mi"}}}]},
            "status": {"phase": "Pending", "containerStatuses": [{
                "name": "worker", "image": "llm-compare:nope", "imageID": "", "ready": false,
                "restartCount": 0, "state": state}]}
        }))
    }

    #[test]
    fn image_pull_failures_are_typed() {
        let p = worker_status(serde_json::json!({"waiting": {"reason": "ImagePullBackOff",
            "message": "Back-off pulling image"}}));
        let e = start_failure(&p).unwrap();
        assert_eq!(e.code(), ErrorCode::ImagePull);
        assert!(e.to_string().contains("llm-compare:nope"), "{e}");
        let creating =
            worker_status(serde_json::json!({"waiting": {"reason": "ContainerCreating"}}));
        assert!(start_failure(&creating).is_none());
        assert!(!has_started(&creating));
        assert_eq!(pending_reason(Some(&creating)), "ContainerCreating");
    }

    #[test]
    fn the_end_of_a_call_is_explained() {
        let oom = worker_status(
            serde_json::json!({"terminated": {"exitCode": 137, "reason": "OOMKilled"}}),
        );
        let e = end_failure(None, Some(&oom), "cut");
        assert_eq!(e.code(), ErrorCode::OutOfMemory);
        assert!(e.to_string().contains("64Mi"), "{e}");
        let exit = worker_status(
            serde_json::json!({"terminated": {"exitCode": 2, "reason": "Error",
            "message": "error: bad call\n"}}),
        );
        let e = end_failure(None, Some(&exit), "cut");
        assert_eq!(e.code(), ErrorCode::WorkerExit);
        assert!(e.to_string().contains("code 2: error: bad call"), "{e}");
        let job: Job = serde_json::from_value(serde_json::json!({
            "spec": {"activeDeadlineSeconds": 3, "template": {}},
            "status": {"conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}]}
        }))
        .unwrap();
        let e = end_failure(Some(&job), Some(&exit), "cut");
        assert_eq!(e.code(), ErrorCode::Timeout);
        assert!(e.to_string().contains("3s"), "{e}");
        let running = worker_status(serde_json::json!({"running": {}}));
        let e = end_failure(None, Some(&running), "the log stream was cut");
        assert_eq!(e.code(), ErrorCode::Network);
        assert!(e.is_retryable());
    }

    #[test]
    fn an_unscheduled_pod_says_why() {
        let p = pod(
            serde_json::json!({"status": {"phase": "Pending", "conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/3 nodes are available: 3 Insufficient memory."}]}}),
        );
        let e = unschedulable(Some(&p), std::time::Duration::from_secs(2));
        assert_eq!(e.code(), ErrorCode::Unschedulable);
        assert!(e.to_string().contains("Insufficient memory"), "{e}");
        assert!(e.is_retryable());
    }
}
