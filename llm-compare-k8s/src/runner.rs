//! [`KubernetesRunner`]: the engine's [`Runner`] that makes each model call in a Job of its own.
//!
//! Per call: create the Job ([`job_for`]), watch its pod by label until the worker starts
//! (failing fast on an image that cannot be pulled, or as `unschedulable` past the start
//! timeout), follow the worker's log and parse its JSON lines back into events
//! ([`read_events`]). When the log ends before the call's last event, the pod's and Job's
//! status say why ([`end_failure`]). Dropping the call's stream — a cancelled comparison —
//! deletes the Job (background propagation: its pod goes with it).

use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, LogParams, PostParams, WatchEvent, WatchParams};
use llm_compare_core::read_events;
use llm_compare_core::{CallEvent, Error, ErrorCode, PlannedCall, ProviderError, Runner};
use tokio::io::BufReader;
use tokio::time::Instant;
use tokio_util::compat::FuturesAsyncReadCompatExt;

use crate::job::{CONTAINER, JobSettings, job_for, job_name, pod_selector};
use crate::status::{end_failure, has_started, is_finished, start_failure, unschedulable};

/// How long the runner waits, after a worker's log ends early, for its pod's final status
/// (the kubelet reports an exit a moment after the log closes).
const END_GRACE: Duration = Duration::from_secs(5);

/// Runs each model call as a Kubernetes Job (see the module docs).
#[derive(Clone)]
pub struct KubernetesRunner {
    inner: Arc<Inner>,
}

struct Inner {
    jobs: Api<Job>,
    pods: Api<Pod>,
    settings: JobSettings,
}

impl std::fmt::Debug for KubernetesRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubernetesRunner")
            .field("namespace", &self.inner.settings.namespace)
            .field("image", &self.inner.settings.image)
            .finish_non_exhaustive()
    }
}

impl KubernetesRunner {
    /// A runner making Jobs in `settings.namespace` through `client`.
    pub fn new(client: kube::Client, settings: JobSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                jobs: Api::namespaced(client.clone(), &settings.namespace),
                pods: Api::namespaced(client, &settings.namespace),
                settings,
            }),
        }
    }

    /// A runner with the client Kubernetes itself suggests: in-cluster (the pod's service
    /// account) when running in a pod, else `$KUBECONFIG` or `~/.kube/config`.
    pub async fn infer(settings: JobSettings) -> Result<Self, kube::Error> {
        Ok(Self::new(kube::Client::try_default().await?, settings))
    }

    /// The settings the Jobs are made with.
    pub fn settings(&self) -> &JobSettings {
        &self.inner.settings
    }
}

/// A Kubernetes API failure as the call's error.
fn api_error(what: &str, e: &kube::Error) -> Error {
    let (code, retryable) = match e {
        kube::Error::Api(s) if s.code == 429 => (ErrorCode::RateLimited, true),
        kube::Error::Api(s) if s.code >= 500 => (ErrorCode::Server, true),
        kube::Error::Api(_) => (ErrorCode::Internal, false),
        _ => (ErrorCode::Network, true),
    };
    ProviderError::new(code, format!("Kubernetes API: {what}: {e}"))
        .retryable(retryable)
        .into()
}

/// Deletes the call's Job when dropped, unless the call finished and the Job is left to its
/// `ttlSecondsAfterFinished`.
struct JobGuard {
    jobs: Api<Job>,
    name: String,
    armed: bool,
}

impl Drop for JobGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (jobs, name) = (self.jobs.clone(), std::mem::take(&mut self.name));
        // Drop cannot wait; the deletion goes on in the background (outside a runtime there is
        // nothing to run it on, and nothing was created from there either).
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                match jobs.delete(&name, &DeleteParams::background()).await {
                    Ok(_) => tracing::debug!(job = %name, "deleted the Job"),
                    Err(kube::Error::Api(s)) if s.code == 404 => {}
                    Err(e) => tracing::warn!(job = %name, error = %e, "could not delete the Job"),
                }
            });
        }
    }
}

/// The call's pod as a stream of states, re-watching when a watch ends (the API server closes
/// watches after `timeoutSeconds`) or fails.
struct PodWatch {
    pods: Api<Pod>,
    selector: String,
    events: Option<BoxStream<'static, kube::Result<WatchEvent<Pod>>>>,
    failures: u32,
}

/// What the watch saw.
enum Seen {
    Pod(Box<Pod>),
    Deleted,
}

impl PodWatch {
    async fn next(&mut self) -> Result<Seen, Error> {
        loop {
            let events = match &mut self.events {
                Some(events) => events,
                None => {
                    // Version "0": the watch starts with the pod as it is now (an `ADDED`).
                    let params = WatchParams::default().labels(&self.selector).timeout(290);
                    match self.pods.watch(&params, "0").await {
                        Ok(events) => self.events.insert(events.boxed()),
                        Err(e) => {
                            self.failed(&e).await?;
                            continue;
                        }
                    }
                }
            };
            match events.try_next().await {
                Ok(Some(WatchEvent::Added(pod) | WatchEvent::Modified(pod))) => {
                    self.failures = 0;
                    return Ok(Seen::Pod(Box::new(pod)));
                }
                Ok(Some(WatchEvent::Deleted(_))) => return Ok(Seen::Deleted),
                Ok(Some(WatchEvent::Bookmark(_))) => {}
                Ok(Some(WatchEvent::Error(status))) => {
                    self.events = None;
                    self.failed(&kube::Error::Api(status)).await?;
                }
                // The API server ends watches after `timeoutSeconds`; pause a moment so a
                // proxy that ends them at once cannot make this spin.
                Ok(None) => {
                    self.events = None;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => {
                    self.events = None;
                    self.failed(&e).await?;
                }
            }
        }
    }

    /// Backs off after a failed watch; gives up after a few in a row.
    async fn failed(&mut self, e: &kube::Error) -> Result<(), Error> {
        self.failures += 1;
        if self.failures > 5 {
            return Err(api_error("watching the worker pod", e));
        }
        tracing::debug!(error = %e, "re-watching the worker pod");
        tokio::time::sleep(Duration::from_millis(100 << self.failures)).await;
        Ok(())
    }
}

impl Runner for KubernetesRunner {
    /// A model's whole tool loop runs in its Job (tools from the worker's configuration).
    fn runs_whole_loops(&self) -> bool {
        true
    }

    fn run(&self, planned: PlannedCall) -> BoxStream<'static, CallEvent> {
        let inner = self.inner.clone();
        async_stream::stream! {
            let settings = &inner.settings;
            let job = match job_for(&planned.call, &planned.policy, settings) {
                Ok(job) => job,
                Err(e) => {
                    yield CallEvent::Failed(e);
                    return;
                }
            };
            // Armed before the create: a call dropped while the create is on its way still
            // deletes what it made.
            let mut guard = JobGuard {
                jobs: inner.jobs.clone(),
                name: job_name(&planned.call),
                armed: true,
            };
            if let Err(e) = inner.jobs.create(&PostParams::default(), &job).await {
                guard.armed = false;
                yield CallEvent::Failed(api_error("creating the worker Job", &e));
                return;
            }
            let mut watch = PodWatch {
                pods: inner.pods.clone(),
                selector: pod_selector(&planned.call),
                events: None,
                failures: 0,
            };

            // 1. Until the worker starts.
            let started_by = Instant::now() + settings.start_timeout;
            let mut pod: Option<Pod> = None;
            let mut gone = false;
            loop {
                let seen = tokio::select! {
                    seen = watch.next() => seen,
                    () = tokio::time::sleep_until(started_by) => {
                        yield CallEvent::Failed(unschedulable(pod.as_ref(), settings.start_timeout));
                        return;
                    }
                };
                match seen {
                    Ok(Seen::Pod(p)) => {
                        if let Some(e) = start_failure(&p) {
                            yield CallEvent::Failed(e);
                            return;
                        }
                        let started = has_started(&p);
                        pod = Some(*p);
                        if started {
                            break;
                        }
                    }
                    // The Job controller removed the pod (its deadline passed).
                    Ok(Seen::Deleted) => {
                        gone = true;
                        break;
                    }
                    Err(e) => {
                        yield CallEvent::Failed(e);
                        return;
                    }
                }
            }

            // 2. The worker's events, from its log.
            let cut = "the worker's log stream ended before the call did";
            if !gone && let Some(name) = pod.as_ref().and_then(|p| p.metadata.name.clone()) {
                let params = LogParams {
                    container: Some(CONTAINER.into()),
                    follow: true,
                    ..LogParams::default()
                };
                match inner.pods.log_stream(&name, &params).await {
                    Ok(log) => {
                        let mut events = read_events(BufReader::new(log.compat()));
                        while let Some(event) = events.next().await {
                            let last = event.is_last();
                            if last {
                                // Done: the finished Job stays until its TTL (its log too).
                                // Disarmed before the yield: the engine may drop the stream
                                // as soon as it has the last event.
                                guard.armed = false;
                            }
                            yield event;
                            if last {
                                return;
                            }
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, pod = %name, "following the worker's log failed"),
                }
            }

            // 3. The log ended early: wait briefly for the pod's final status, then say why.
            let grace = tokio::time::sleep(END_GRACE);
            tokio::pin!(grace);
            while !gone && !pod.as_ref().is_some_and(is_finished) {
                tokio::select! {
                    seen = watch.next() => match seen {
                        Ok(Seen::Pod(p)) => pod = Some(*p),
                        Ok(Seen::Deleted) | Err(_) => gone = true,
                    },
                    () = &mut grace => break,
                }
            }
            let job = inner.jobs.get_opt(&guard.name).await.ok().flatten();
            // A finished pod is left to the Job's TTL; a running one (a cut log) is deleted.
            guard.armed = !pod.as_ref().is_some_and(is_finished) && !gone;
            yield CallEvent::Failed(end_failure(job.as_ref(), pod.as_ref(), cut));
        }
        .boxed()
    }
}
