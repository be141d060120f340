//! The comparing service every front end shares: the HTTP server and the Python and Node
//! bindings call these methods and only translate inputs and errors, so a comparison, a
//! session turn, a vote or a leaderboard is the same thing whichever way it was asked for.
//!
//! With a store, a comparison is recorded (its worst case held against the owner's budget)
//! before it is registered and started, and [`Persistence`] writes what the registry
//! publishes; sessions plan each turn from the stored history; votes feed the leaderboard.
//! Without one, comparisons run in memory and the stored features say they need a store.

mod bodies;
mod chat;
mod keys;
mod reads;
mod responses;
mod sessions;
mod snapshot;
mod submit;
mod usage;
mod votes;

pub use bodies::{
    CreateComparison, CreateSession, Submitted, ToolMode, ToolResults, ToolSpec, VoteBody,
};
pub use chat::ChatCall;
pub use responses::Thread;
pub(crate) use snapshot::fold;
pub use snapshot::{ModelSnapshot, SessionDetail, Snapshot, stored_snapshot};

use std::collections::HashMap;
use std::sync::Arc;

use llm_compare_core::{
    CompareRequest, Engine, Error, ModelInfo, ObservedRegistry, PriceTable, RegistryObserver,
    RequestRegistry, Result,
};
use serde::Serialize;

use crate::SharedStore;
use crate::budget::BudgetSettings;
use crate::keys::{Keys, Principal};
use crate::leaderboard::VoteCache;
use crate::persist::{Persistence, WRITE_WINDOW};

use llm_compare_core::tools::ClientTools;

/// The host name (`HOSTNAME`, else `/etc/hostname`, else `local`).
pub fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "local".into())
}

/// A store instance name unique to this process, `{prefix}:{pid}@{host}`: an embedding
/// process that starts never marks another one's running comparisons interrupted.
pub fn process_instance(prefix: &str) -> String {
    format!("{prefix}:{}@{}", std::process::id(), host_name())
}

/// Items per listing page when no limit is given.
pub const DEFAULT_PAGE: u32 = 20;

/// A listing's page size: `limit` (default [`DEFAULT_PAGE`]), checked to be 1–100.
pub fn page_limit(limit: Option<u32>) -> Result<u32> {
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=100).contains(&limit) {
        return Err(Error::invalid("limit", "limit must be between 1 and 100"));
    }
    Ok(limit)
}

/// What this service was given, so front ends ask instead of inferring it from errors
/// (`GET /health`'s `features`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceFeatures {
    /// A store (database): sessions, blind comparisons, votes, the leaderboard, history and
    /// usage work.
    pub store: bool,
    /// Per-caller budgets are enforced.
    pub budgets: bool,
}

/// The engine, its request registry and (optionally) a store, with budgets. Cloning shares
/// all of it.
#[derive(Debug, Clone)]
pub struct Service {
    engine: Engine,
    registry: Arc<dyn RequestRegistry>,
    store: Option<SharedStore>,
    budget: Option<BudgetSettings>,
    instance: String,
    votes: Arc<VoteCache>,
    persistence: Option<Persistence>,
    keys: Arc<Keys>,
    /// The client-side tools of comparisons running here, by request id (gone with their
    /// comparison: the loops hold the only strong references).
    client_tools: Arc<parking_lot::Mutex<HashMap<String, std::sync::Weak<ClientTools>>>>,
    /// Evaluation runs started here (`POST /v1/evals`), while they run and a while after.
    evals: Arc<crate::eval::live::LiveRuns>,
    /// What one request may ask for.
    limits: Arc<crate::Limits>,
    /// Per user: evaluation rows take their turn here to pass from a free slot to their
    /// submission, so that no other row takes the slot in between.
    admissions: Arc<parking_lot::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    /// Responses-API threads being written, by id: a follow-up waits for its thread's write.
    threads: responses::Writing,
}

/// How long the `attempt`th wait for an active slot lasts: 20 ms doubling to 500 ms.
pub(crate) fn slot_backoff(attempt: u32) -> std::time::Duration {
    std::time::Duration::from_millis(20u64.saturating_mul(1 << attempt.min(5)).min(500))
}

/// Whether `who`'s key allows every model of `calls` and every fallback the configuration
/// gives them: a fallback outside the allow-list would call a model the key may not use.
pub(super) fn check_models(
    who: &Principal,
    engine: &Engine,
    calls: &[llm_compare_core::ChatRequest],
) -> Result<()> {
    calls.iter().try_for_each(|c| {
        let model = c.model.to_string();
        who.check_model(&model)?;
        engine
            .policies()
            .policy(&model)
            .fallbacks
            .iter()
            .try_for_each(|f| {
                who.check_model(f).map_err(|_| Error::ModelNotAllowed {
                    model: format!("{f}` (the configured fallback of `{model}"),
                    allowed: who.allowed_patterns(),
                })
            })
    })
}

impl Service {
    /// `engine` over `registry`; with a `store`, what the registry publishes is persisted
    /// first, then passed to `observers` (metrics), then to readers.
    pub fn new(
        engine: Engine,
        registry: Arc<dyn RequestRegistry>,
        store: Option<SharedStore>,
        observers: Vec<Arc<dyn RegistryObserver>>,
    ) -> Self {
        Self::build(engine, registry, store, observers, WRITE_WINDOW)
    }

    /// [`Service::new`], with writes to an unreachable database held for `write_window`
    /// (the registry's retention) before they are given up.
    pub fn with_write_window(
        engine: Engine,
        registry: Arc<dyn RequestRegistry>,
        store: Option<SharedStore>,
        observers: Vec<Arc<dyn RegistryObserver>>,
        write_window: std::time::Duration,
    ) -> Self {
        Self::build(engine, registry, store, observers, write_window)
    }

    pub(super) fn build(
        engine: Engine,
        registry: Arc<dyn RequestRegistry>,
        store: Option<SharedStore>,
        observers: Vec<Arc<dyn RegistryObserver>>,
        write_window: std::time::Duration,
    ) -> Self {
        let persistence = store
            .as_ref()
            .map(|s| Persistence::with_window(s.clone(), write_window));
        let mut all: Vec<Arc<dyn RegistryObserver>> = Vec::new();
        if let Some(p) = &persistence {
            all.push(Arc::new(p.clone()));
        }
        all.extend(observers);
        let registry: Arc<dyn RequestRegistry> = if all.is_empty() {
            registry
        } else {
            Arc::new(ObservedRegistry::new(registry, all))
        };
        let keys = Arc::new(Keys::new([], store.clone()));
        Self {
            engine,
            registry,
            store,
            budget: None,
            instance: "local".into(),
            votes: Arc::default(),
            persistence,
            keys,
            client_tools: Arc::default(),
            // A finished run stays live as long as a finished comparison does.
            evals: Arc::new(crate::eval::live::LiveRuns::keeping(write_window)),
            limits: Arc::default(),
            admissions: Arc::default(),
            threads: responses::Writing::default(),
        }
    }

    /// The limits on what one request may ask for (default: [`crate::Limits::default`]).
    pub fn with_limits(mut self, limits: crate::Limits) -> Self {
        self.limits = Arc::new(limits);
        self
    }

    /// The limits in effect.
    pub fn limits(&self) -> &crate::Limits {
        &self.limits
    }

    /// Whether this service can take requests: its database and its registry answer (within
    /// a second each). [`Error::Unavailable`] when one does not (`/ready` says 503).
    pub async fn ready(&self) -> Result<()> {
        let within = std::time::Duration::from_secs(1);
        let timed_out =
            |what: &str| Error::unavailable(format!("{what} did not answer within 1 s"));
        if let Some(store) = &self.store {
            tokio::time::timeout(within, store.ping())
                .await
                .map_err(|_| timed_out("the database"))??;
        }
        tokio::time::timeout(within, self.registry.ping())
            .await
            .map_err(|_| timed_out("the request registry"))?
    }

    /// Writes waiting for an unreachable database to come back.
    pub fn pending_writes(&self) -> usize {
        self.persistence.as_ref().map_or(0, Persistence::pending)
    }

    /// Holds each comparison's worst-case cost against its owner's budget (needs a store).
    pub fn with_budget(mut self, budget: Option<BudgetSettings>) -> Self {
        self.budget = budget;
        self
    }

    /// The name this process records its comparisons under (see
    /// [`crate::Store::mark_interrupted`]).
    pub fn with_instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = instance.into();
        self
    }

    /// The catalogue: every model, its provider, context window, prices, available or why
    /// not.
    pub async fn models(&self) -> Vec<ModelInfo> {
        self.engine
            .providers()
            .catalogue(self.engine.prices())
            .await
    }

    /// The store, when there is one.
    pub(crate) fn store_ref(&self) -> Option<&SharedStore> {
        self.store.as_ref()
    }

    /// The registry (with its observers).
    pub(crate) fn registry_ref(&self) -> &Arc<dyn RequestRegistry> {
        &self.registry
    }

    /// The name this process records its comparisons under.
    pub(crate) fn instance_ref(&self) -> &str {
        &self.instance
    }

    /// Whether `who` may call every one of `models` here, as `field` (`models`, `judge`):
    /// an unknown model or one the caller's key may not use is refused before anything runs.
    pub(crate) fn check_callable(
        &self,
        who: &Principal,
        models: &[String],
        field: &str,
    ) -> Result<()> {
        let probe = CompareRequest::prompt(models.iter().map(String::as_str), "probe");
        let calls = self.engine.plan(&probe).map_err(|e| match e {
            Error::InvalidRequest { message, .. } => Error::invalid(field, message),
            other => other,
        })?;
        check_models(who, &self.engine, &calls)
    }

    /// The evaluation runs live in this process.
    pub(crate) fn live_evals(&self) -> &Arc<crate::eval::live::LiveRuns> {
        &self.evals
    }

    /// The server's executable tools (`[tools.*]`, `[mcp.*]`): what a request may name in
    /// `tools`.
    pub fn server_tools(&self) -> Vec<llm_compare_core::Tool> {
        self.engine
            .tools()
            .map(|t| llm_compare_core::tools::ToolExecutor::tools(t.as_ref()))
            .unwrap_or_default()
    }

    /// The catalogue as `who` sees it: the models its key may use.
    pub async fn models_for(&self, who: &Principal) -> Vec<ModelInfo> {
        let mut models = self.models().await;
        models.retain(|m| who.allows(&m.id));
        models
    }

    /// The price table in effect (overrides applied): prices and costs for the bindings.
    pub fn prices(&self) -> &PriceTable {
        self.engine.prices()
    }

    /// The budgets, if any.
    pub fn budget(&self) -> Option<&BudgetSettings> {
        self.budget.as_ref()
    }

    /// What this service was set up with (a store; budgets).
    pub fn features(&self) -> ServiceFeatures {
        ServiceFeatures {
            store: self.store.is_some(),
            budgets: self.store.is_some() && self.budget.is_some(),
        }
    }

    /// The store, or [`Error::NotConfigured`] saying so: `what` is "sessions need", "usage
    /// needs", ….
    pub(super) fn store_for(&self, what: &str) -> Result<&SharedStore> {
        self.store.as_ref().ok_or_else(|| {
            Error::NotConfigured(format!(
                "{what} a store (a database), and none is configured"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_limit_is_1_to_100() {
        assert_eq!(page_limit(None).unwrap(), DEFAULT_PAGE);
        assert_eq!(page_limit(Some(100)).unwrap(), 100);
        assert!(page_limit(Some(0)).is_err());
        assert!(page_limit(Some(101)).is_err());
    }

    #[test]
    fn slot_waits_double_to_half_a_second() {
        assert_eq!(slot_backoff(0).as_millis(), 20);
        assert_eq!(slot_backoff(1).as_millis(), 40);
        assert_eq!(slot_backoff(30).as_millis(), 500);
    }
}
