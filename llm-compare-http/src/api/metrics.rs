//! Prometheus metrics: HTTP requests, active comparisons, SSE connections, events sent,
//! per-model time to first token, latency and output speed (tokens/s), upstream errors by code, cost total.
//!
//! Model-level metrics are taken where results are published: [`ModelMetrics`] observes the
//! request registry's `model_result` events on their way in. Any caller may name any model,
//! so a `model` label is a model's name only when the configuration or the price table knows
//! it, or for the first [`MAX_OTHER_MODELS`] others that answered (a made-up name fails);
//! any other is `other` ([`ModelLabels`]): a series per made-up name would grow without end.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use axum::http::Method;
use llm_compare_core::{Event, EventKind, NewRequest, Registration, RegistryObserver, Result};
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process-wide Prometheus recorder (installed on first use; `None` if another
/// recorder was installed first).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
            ];
            // Output speed: from a slow local model to a fast inference provider.
            let rates = [
                5.0, 10.0, 20.0, 40.0, 60.0, 80.0, 100.0, 150.0, 200.0, 300.0, 500.0, 1000.0,
            ];
            // A group-committed transaction: sub-millisecond to a stall behind a checkpoint.
            let batch = [
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0,
            ];
            // Full names take precedence over suffixes.
            PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("llm_compare_store_batch_seconds".into()),
                    &batch,
                )
                .ok()?
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &buckets)
                .ok()?
                .set_buckets_for_metric(Matcher::Suffix("_tokens_per_second".into()), &rates)
                .ok()?
                .install_recorder()
                .ok()
        })
        .as_ref()
}

/// One HTTP request answered.
pub fn record_http(method: &Method, route: &str, status: u16, seconds: f64) {
    let labels = [
        ("method", method.to_string()),
        ("route", route.to_string()),
        ("status", status.to_string()),
    ];
    counter!("llm_compare_http_requests_total", &labels).increment(1);
    histogram!("llm_compare_http_request_duration_seconds", &labels[..2]).record(seconds);
}

/// A connection refused at a cap (`max_connections`, `max_connections_per_client`).
pub fn connection_refused(limit: &'static str) {
    counter!("llm_compare_connections_refused_total", "limit" => limit).increment(1);
}

/// An SSE or WebSocket connection opened; the guard closes it.
pub fn stream_opened(kind: &'static str) -> StreamGuard {
    gauge!("llm_compare_stream_connections", "kind" => kind).increment(1.0);
    StreamGuard(kind)
}

/// Decrements the open-streams gauge when dropped.
#[derive(Debug)]
pub struct StreamGuard(&'static str);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        gauge!("llm_compare_stream_connections", "kind" => self.0).decrement(1.0);
    }
}

/// Events written to clients.
pub fn events_sent(kind: &'static str, n: u64) {
    counter!("llm_compare_events_sent_total", "kind" => kind).increment(n);
}

/// Models outside the configuration and the price table that get a label of their own.
pub const MAX_OTHER_MODELS: usize = 100;

/// Model names as metric labels, of bounded number.
#[derive(Debug)]
pub struct ModelLabels {
    prices: Arc<llm_compare_core::PriceTable>,
    policies: llm_compare_core::Policies,
    others: parking_lot::Mutex<HashSet<String>>,
    max_others: usize,
}

impl ModelLabels {
    /// Labels for the models of `engine`'s configuration and price table, and
    /// `max_others` more.
    pub fn new(engine: &llm_compare_core::Engine, max_others: usize) -> Self {
        Self {
            prices: engine.prices().clone(),
            policies: engine.policies().clone(),
            others: parking_lot::Mutex::default(),
            max_others,
        }
    }

    /// `model`'s label: its name, or `other`. `answered`: its call succeeded (only such a
    /// model outside the configuration and the price table earns a label of its own).
    pub fn label(&self, model: &str, answered: bool) -> String {
        if self.prices.get(model).is_some() || self.policies.names(model) {
            return model.to_string();
        }
        let mut others = self.others.lock();
        if others.contains(model) {
            return model.to_string();
        }
        if answered && others.len() < self.max_others {
            others.insert(model.to_string());
            return model.to_string();
        }
        "other".to_string()
    }
}

/// Per-model metrics of one finished model call.
pub fn record_model_result(labels: &ModelLabels, r: &llm_compare_core::ModelResult) {
    let model = labels.label(&r.model, r.error.is_none());
    if let Some(ttft) = r.timing.ttft_ms {
        histogram!("llm_compare_model_ttft_seconds", "model" => model.clone()).record(ttft / 1e3);
    }
    histogram!("llm_compare_model_latency_seconds", "model" => model.clone())
        .record(r.timing.total_ms / 1e3);
    if let Some(rate) = r.timing.tokens_per_s {
        histogram!("llm_compare_model_output_tokens_per_second", "model" => model.clone())
            .record(rate);
    }
    if let Some(e) = &r.error {
        counter!("llm_compare_upstream_errors_total", "model" => model.clone(), "code" => e.code.as_str()).increment(1);
    }
    for a in &r.attempts {
        counter!("llm_compare_upstream_errors_total", "model" => labels.label(&a.model, false), "code" => a.error.code.as_str()).increment(1);
    }
    if let Some(c) = r.cost.total_usd {
        counter!("llm_compare_cost_pico_usd_total", "model" => model).increment(c.pico());
    }
}

/// Records comparison and model metrics from what the registry sees.
#[derive(Debug)]
pub struct ModelMetrics(pub Arc<ModelLabels>);

#[async_trait]
impl RegistryObserver for ModelMetrics {
    async fn registered(&self, _request: &NewRequest, _registration: &Registration) -> Result<()> {
        counter!("llm_compare_comparisons_total").increment(1);
        Ok(())
    }

    async fn publishing(&self, _id: &str, events: &[Event]) -> Result<()> {
        for e in events {
            if let EventKind::ModelResult(r) = &e.kind {
                record_model_result(&self.0, r);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_thousand_made_up_models_make_a_bounded_number_of_labels() {
        let engine = llm_compare_core::Engine::new(llm_compare_core::ProviderRegistry::with_sim());
        let labels = ModelLabels::new(&engine, MAX_OTHER_MODELS);
        // Made-up names fail: none earns a label.
        let mut seen = HashSet::new();
        for i in 0..10_000 {
            seen.insert(labels.label(&format!("openai/junk-{i}-{}", "a".repeat(40)), false));
        }
        assert_eq!(seen, HashSet::from(["other".to_string()]));
        // Names that answer (a local server's models): the first hundred, then `other`.
        let mut seen = HashSet::new();
        for i in 0..10_000 {
            seen.insert(labels.label(&format!("ollama/model-{i}"), true));
        }
        assert_eq!(seen.len(), MAX_OTHER_MODELS + 1);
        assert!(seen.contains("ollama/model-0"));
        // One that earned its label keeps it, failing or not.
        assert_eq!(labels.label("ollama/model-0", false), "ollama/model-0");
        // Known models keep their names however many others came first.
        assert_eq!(labels.label("openai/gpt-4o", false), "openai/gpt-4o");
        assert_eq!(labels.label("sim/echo", true), "sim/echo");
        assert_eq!(labels.label("openai/junk-1-x", true), "other");
    }
}
