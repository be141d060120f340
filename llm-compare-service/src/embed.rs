//! What a binding needs to embed the engine the way the server runs it, so that each binding
//! is only its language's glue: [`open`] turns the options every binding takes (the
//! configuration, the registry's limit, a database, an instance name) into a [`Service`]
//! with an in-memory registry; [`JsonEvents`] is a comparison's event stream handed out one
//! JSON event at a time; [`to_json`] renders any answer.

use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use llm_compare_core::{Config, Error, Event, InMemoryRegistry, RegistryConfig, Result};

use crate::{Limits, Service, SharedStore, SqlStore};

/// How a binding opens its engine (`Engine(...)` in Python, `new Engine({...})` in Node).
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// `default` (llm-compare.toml in the working directory, if any), `path`, `toml` or
    /// `json` (None: `default`).
    pub kind: Option<String>,
    /// The path or text that `kind` names.
    pub text: Option<String>,
    /// Most active registered requests per owner (default: the registry's).
    pub max_active_per_owner: Option<usize>,
    /// `sqlite://…` or `postgres://…`: sessions, votes, the leaderboard, history, usage.
    pub store_url: Option<String>,
    /// A stable name for this process in the store: comparisons an earlier process of that
    /// name left running are marked interrupted. None: `{language}:{pid}@{host}`.
    pub instance_id: Option<String>,
}

/// An embedded engine: the service and its in-memory registry (whose active counts the
/// bindings report).
#[derive(Debug, Clone)]
pub struct Embedded {
    /// The service, as the server's.
    pub service: Arc<Service>,
    /// Its request registry.
    pub memory: InMemoryRegistry,
}

/// Opens the engine for a binding of `language` (`python`, `node`): the configuration's
/// providers connected (MCP servers included), the store opened and migrated. Run it on the
/// binding's runtime.
pub async fn open(options: EngineOptions, language: &str) -> Result<Embedded> {
    let config = Config::from_kind(
        options.kind.as_deref().unwrap_or("default"),
        options.text.as_deref().unwrap_or_default(),
    )?;
    let engine = config.connect().await?;
    let mut registry = RegistryConfig::default();
    if let Some(n) = options.max_active_per_owner {
        registry.max_active_per_owner = n;
    }
    let memory = InMemoryRegistry::new(registry);
    let instance = options
        .instance_id
        .clone()
        .unwrap_or_else(|| crate::service::process_instance(language));
    let store: Option<SharedStore> = match &options.store_url {
        None => None,
        Some(url) => {
            let store: SharedStore = SqlStore::open(url).await?;
            if options.instance_id.is_some() {
                store.mark_interrupted(&instance).await?;
            }
            Some(store)
        }
    };
    // An embedding app's own datasets: bounded by memory alone.
    let service = Service::new(engine, Arc::new(memory.clone()), store, Vec::new())
        .with_instance(instance)
        .with_limits(Limits::local());
    Ok(Embedded {
        service: Arc::new(service),
        memory,
    })
}

type Events = Pin<Box<dyn Stream<Item = Event> + Send>>;

/// A comparison's events, handed out one at a time as JSON (the same JSON as the server's
/// SSE `data`); shared, so a binding's iterator object can be cloned into each `next` call.
#[derive(Clone)]
pub struct JsonEvents(Arc<tokio::sync::Mutex<Events>>);

impl std::fmt::Debug for JsonEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonEvents").finish_non_exhaustive()
    }
}

impl JsonEvents {
    /// Over `events`.
    pub fn new(events: impl Stream<Item = Event> + Send + 'static) -> Self {
        Self(Arc::new(tokio::sync::Mutex::new(Box::pin(events))))
    }

    /// The next event's JSON; None once the stream ended (after `complete`).
    pub async fn next(&self) -> Option<String> {
        self.0.lock().await.next().await.map(|e| e.to_json())
    }
}

/// `value` as JSON text (an answer a binding hands back).
pub fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::invalid("result", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn opens_the_sim_engine_and_streams_json_events() {
        let e = open(EngineOptions::default(), "test").await.unwrap();
        assert!(!e.service.features().store);
        let body =
            crate::CreateComparison::from_json(r#"{"prompt": "hi", "models": ["sim/echo"]}"#)
                .unwrap();
        let events = JsonEvents::new(e.service.compare(body).unwrap());
        let mut last = None;
        while let Some(j) = events.next().await {
            last = Some(j);
        }
        let last: serde_json::Value = serde_json::from_str(&last.unwrap()).unwrap();
        assert_eq!(last["type"], "complete");
        assert_eq!(last["results"][0]["text"], "hi");
    }

    #[tokio::test]
    async fn a_bad_configuration_is_a_typed_error() {
        let options = EngineOptions {
            kind: Some("toml".into()),
            text: Some("[providers.x]\nkind = 3".into()),
            ..EngineOptions::default()
        };
        assert!(open(options, "test").await.is_err());
    }
}
