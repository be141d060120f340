//! `llm-compare serve`: the HTTP API.

use std::path::Path;

use llm_compare_core::Config;
use llm_compare_http::{AppState, ServerOptions, serve};
use tracing_subscriber::EnvFilter;

use crate::{EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, KubernetesArgs, LogFormat, RunnerKind, ServeArgs};

/// Logs to stderr (`LLM_COMPARE_LOG` filters them), and, with an OTLP endpoint, spans exported
/// as OpenTelemetry traces (the returned guard flushes them at exit). The spans are not logs:
/// the log layer never sees them, so log lines stay the same with tracing on or off.
fn init_logs(
    format: LogFormat,
    otlp: &llm_compare_http::telemetry::OtlpSettings,
) -> Result<Option<llm_compare_http::telemetry::Tracing>, String> {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = EnvFilter::try_from_env("LLM_COMPARE_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info"))
        .add_directive(
            format!("{}=off", llm_compare_core::trace::TARGET)
                .parse()
                .map_err(|e| format!("log filter: {e}"))?,
        );
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = match format {
        LogFormat::Json => fmt.json().flatten_event(true).boxed(),
        LogFormat::Text => fmt.boxed(),
    }
    .with_filter(filter);
    let (otel, guard) = if otlp.enabled() {
        let (layer, guard) = llm_compare_http::telemetry::layer(otlp)?;
        (Some(layer), Some(guard))
    } else {
        (None, None)
    };
    // Already set (an embedding test): keep that one.
    let _ = tracing_subscriber::registry()
        .with(fmt)
        .with(otel)
        .try_init();
    Ok(guard)
}

/// Resolves when SIGINT or SIGTERM arrives.
async fn stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// The Kubernetes runner: in-cluster config in a pod, else `$KUBECONFIG`/`~/.kube/config`.
async fn kubernetes_runner(
    args: KubernetesArgs,
) -> Result<llm_compare_k8s::KubernetesRunner, String> {
    let client = llm_compare_k8s::kube::Client::try_default()
        .await
        .map_err(|e| format!("no Kubernetes configuration (in-cluster or kubeconfig): {e}"))?;
    let namespace = args
        .namespace
        .unwrap_or_else(|| client.default_namespace().to_string());
    let mut settings = llm_compare_k8s::JobSettings::new(namespace, args.worker_image);
    settings.secret = args.worker_secret;
    settings.config_map = args.worker_config_map;
    settings.service_account = args.worker_service_account;
    settings.resources.memory_limit = args.worker_memory;
    settings.resources.cpu_limit = args.worker_cpu;
    settings.start_timeout = std::time::Duration::from_secs(args.worker_start_timeout);
    settings.env = args.worker_env;
    Ok(llm_compare_k8s::KubernetesRunner::new(client, settings))
}

/// Runs `llm-compare serve`.
pub async fn run(config: Option<&Path>, args: ServeArgs) -> u8 {
    let otlp = llm_compare_http::telemetry::OtlpSettings {
        endpoint: args.otlp_endpoint.clone(),
        service_name: None,
    };
    let _tracing = match init_logs(args.log_format, &otlp) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("error: --otlp-endpoint: {e}");
            return EXIT_USAGE;
        }
    };
    if _tracing.is_some() {
        tracing::info!(target: "llm_compare::http", endpoint = otlp.endpoint.as_deref().unwrap_or("from OTEL_EXPORTER_OTLP_*"), "exporting traces over OTLP/HTTP");
    }
    let prepared = match Config::load(config) {
        Ok(c) => c.connect().await.map(|e| (e, c)),
        Err(e) => Err(e),
    };
    let (engine, config) = match prepared {
        Ok(x) => x,
        Err(e) => {
            super::print_error(&e);
            return EXIT_USAGE;
        }
    };
    let engine = match args.runner {
        RunnerKind::InProcess => engine,
        RunnerKind::Kubernetes => match kubernetes_runner(args.kubernetes).await {
            Ok(runner) => {
                tracing::info!(target: "llm_compare::http", namespace = %runner.settings().namespace, image = %runner.settings().image, "model calls run as Kubernetes Jobs");
                engine.with_runner(std::sync::Arc::new(runner))
            }
            Err(e) => {
                eprintln!("error: --runner kubernetes: {e}");
                return EXIT_USAGE;
            }
        },
    };
    let mut options = match ServerOptions::from_config(&config) {
        Ok(o) => o,
        Err(e) => {
            eprintln!(
                "error: {} (field: {})",
                e.message,
                e.field.unwrap_or_default()
            );
            return EXIT_USAGE;
        }
    };
    if let Some(b) = args.bind {
        options.bind = b;
    }
    if let Some(d) = args.data_dir {
        options.data_dir = d;
    }
    if let Some(u) = args.database_url {
        options.database_url = Some(u);
    }
    if let Some(n) = args.max_active {
        options.registry.max_active_per_owner = n;
    }
    if let Some(s) = args.shutdown_grace {
        options.shutdown_grace = std::time::Duration::from_secs(s);
    }
    options.cors_origins.extend(args.cors_origins);
    if let Some(u) = args.registry_url {
        options.registry_url = Some(u);
    }
    if let Some(i) = args.instance_id {
        options.instance_id = i;
    }
    options.insecure_open = args.insecure_open;
    if args.no_ui {
        options.ui = false;
    }
    // Prompts and answers reach the trace backend only where they may reach the logs.
    llm_compare_core::trace::set_record_content(options.log_prompts);
    if let Err(e) = std::fs::create_dir_all(&options.data_dir) {
        eprintln!(
            "error: cannot create data dir {}: {e}",
            options.data_dir.display()
        );
        return EXIT_USAGE;
    }
    let listener = match tokio::net::TcpListener::bind(options.bind).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", options.bind);
            return EXIT_USAGE;
        }
    };
    let addr = listener
        .local_addr()
        .map_or_else(|_| options.bind.to_string(), |a| a.to_string());
    let store = match llm_compare_service::SqlStore::open(&options.database_url()).await {
        Ok(s) => s,
        Err(e) => {
            super::print_error(&e);
            return EXIT_USAGE;
        }
    };
    let backend = match &options.registry_url {
        Some(url) => {
            match llm_compare_service::RedisRegistry::connect(url, "llm-compare", options.registry)
                .await
            {
                Ok(r) => llm_compare_http::Backend::Redis(r),
                Err(e) => {
                    super::print_error(&e);
                    return EXIT_USAGE;
                }
            }
        }
        None => llm_compare_http::Backend::Memory(llm_compare_core::InMemoryRegistry::new(
            options.registry,
        )),
    };
    let ui = options.ui;
    let state = AppState::with_backend(engine, options, Some(store), backend);
    // Whatever was running when the last process stopped will never finish: its rows become
    // `interrupted`, and in cluster mode its streams (followed elsewhere) end.
    match state.service().recover().await {
        Ok(r) if r.interrupted == 0 && r.ended_as_stored == 0 => {}
        Ok(r) => {
            tracing::warn!(target: "llm_compare::http", interrupted = r.interrupted, streams_ended = r.ended, streams_ended_as_stored = r.ended_as_stored, "comparisons left running by the previous process are now interrupted, and their streams (followed on other servers) ended")
        }
        Err(e) => {
            super::print_error(&e);
            return EXIT_INTERNAL;
        }
    }
    // Open only when no key exists anywhere: configured or stored (read before serving).
    let open = match state.service().is_open().await {
        Ok(open) => open,
        Err(e) => {
            super::print_error(&e);
            return EXIT_INTERNAL;
        }
    };
    if let Err(msg) = state.options().check_exposure(open) {
        eprintln!("error: {msg}");
        return EXIT_USAGE;
    }
    let web_ui = if ui {
        format!("http://{addr}/")
    } else {
        "off (--no-ui)".to_string()
    };
    tracing::info!(target: "llm_compare::http", %addr, auth = if open { "open (no API keys)" } else { "API keys" }, %web_ui, "listening");
    // Printed plainly too, so scripts (and tests) can read the address when binding port 0.
    println!("llm-compare listening on http://{addr}");
    match serve(listener, state, stop_signal()).await {
        Ok(()) => {
            tracing::info!(target: "llm_compare::http", "stopped");
            EXIT_OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_INTERNAL
        }
    }
}
