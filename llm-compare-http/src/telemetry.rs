//! OpenTelemetry traces: when an OTLP endpoint is configured (`--otlp-endpoint URL`, or the
//! standard `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), the spans
//! of target `llm_compare::trace` — one per HTTP request (here), comparison, model call,
//! attempt and tool call (`llm_compare_core::trace`) — are exported over OTLP/HTTP with
//! protobuf bodies (the collectors' default, port 4318) by a batch processor on its own
//! thread. An incoming W3C `traceparent` is the HTTP span's parent; upstream provider
//! requests carry the attempt's. Without an endpoint nothing here runs and the spans are
//! never created (no subscriber takes their target).

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::http::HeaderMap;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Where and how traces are exported.
#[derive(Debug, Clone, Default)]
pub struct OtlpSettings {
    /// The collector's base URL (`http://127.0.0.1:4318`): spans go to `…/v1/traces`. `None`:
    /// the `OTEL_EXPORTER_OTLP_*` variables decide.
    pub endpoint: Option<String>,
    /// The `service.name` resource attribute (default `llm-compare`; `OTEL_SERVICE_NAME`
    /// overrides it as the SDK does).
    pub service_name: Option<String>,
}

impl OtlpSettings {
    /// Whether traces are to be exported at all: an endpoint given, or set in the environment
    /// (and not disabled by `OTEL_SDK_DISABLED=true`).
    pub fn enabled(&self) -> bool {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        if env("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return false;
        }
        self.endpoint.is_some()
            || env("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
            || env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some()
    }
}

/// The exporting tracer provider: flush it (drop the guard) before the process exits.
#[derive(Debug)]
pub struct Tracing {
    provider: SdkTracerProvider,
}

impl Drop for Tracing {
    fn drop(&mut self) {
        // Export what is still batched; a collector that is gone only costs its timeout.
        let _ = self.provider.force_flush();
        let _ = self.provider.shutdown();
    }
}

static PROPAGATOR: OnceLock<TraceContextPropagator> = OnceLock::new();

fn propagator() -> &'static TraceContextPropagator {
    PROPAGATOR.get_or_init(TraceContextPropagator::new)
}

/// Builds the exporter and the tracing layer that feeds it. The layer takes only the spans of
/// target `llm_compare::trace`.
pub fn layer<S>(
    settings: &OtlpSettings,
) -> Result<(impl tracing_subscriber::Layer<S>, Tracing), String>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    use tracing_subscriber::Layer as _;
    let mut builder = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary);
    if let Some(base) = &settings.endpoint {
        builder = builder.with_endpoint(traces_url(base));
    }
    let exporter = builder.build().map_err(|e| format!("OTLP exporter: {e}"))?;
    let mut resource = opentelemetry_sdk::Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(
            settings
                .service_name
                .clone()
                .unwrap_or_else(|| "llm-compare".to_string()),
        );
    }
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            resource
                .with_attribute(opentelemetry::KeyValue::new(
                    "service.version",
                    env!("CARGO_PKG_VERSION"),
                ))
                .build(),
        )
        .build();
    let tracer = provider.tracer("llm-compare");
    let filter = tracing_subscriber::filter::Targets::new()
        .with_target(llm_compare_core::trace::TARGET, tracing::Level::INFO);
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(filter);
    llm_compare_core::trace::set_propagator(inject_current);
    Ok((layer, Tracing { provider }))
}

/// `base` + `/v1/traces` (the OTLP/HTTP path), unless `base` already ends with it.
fn traces_url(base: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.ends_with("/v1/traces") {
        base.to_string()
    } else {
        format!("{base}/v1/traces")
    }
}

/// The current span's context as W3C trace-context headers.
fn inject_current() -> Vec<(String, String)> {
    let cx = Span::current().context();
    let mut headers: HashMap<String, String> = HashMap::new();
    propagator().inject_context(&cx, &mut headers);
    headers.into_iter().collect()
}

/// Makes the trace context of `headers` (a W3C `traceparent`) the parent of `span`.
pub fn set_parent(span: &Span, headers: &HeaderMap) {
    if span.is_disabled() || !headers.contains_key("traceparent") {
        return;
    }
    let cx = propagator().extract(&Headers(headers));
    // A span already started cannot change parent: this one was just made.
    let _ = span.set_parent(cx);
}

/// Request headers as the propagator reads them.
struct Headers<'a>(&'a HeaderMap);

impl opentelemetry::propagation::Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}
