//! Runs each model call of an llm-compare comparison as an isolated Kubernetes Job.
//!
//! [`KubernetesRunner`] plugs into the engine's runner seam
//! ([`llm_compare_core::Engine::with_runner`]): for every model of a comparison it creates a
//! Job ([`job::job_for`]: labels, resources, a locked-down `securityContext`, a deadline from
//! the model's total timeout, API keys by Secret reference) whose container runs
//! `llm-compare worker`; it follows the pod's log and turns the worker's JSON lines back into
//! the call's events, so a comparison reads the same whichever runner ran it. Kubernetes
//! failures become the model's typed error ([`status`]); cancelling deletes the Jobs.
//! See `docs/kubernetes.md` for deploying it.

pub mod job;
pub mod runner;
pub mod status;

pub use job::{JobSettings, Resources, job_for};
pub use runner::KubernetesRunner;
// The Kubernetes crates this one is built on, for callers that make their own client.
pub use {k8s_openapi, kube};
