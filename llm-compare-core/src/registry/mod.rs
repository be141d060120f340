//! The request registry: the backbone of "POST a comparison, then stream it".
//!
//! A request is registered for an owner (→ a UUIDv7 id), its events are published into the
//! registry as the comparison runs, and any number of subscribers read them from any `seq`:
//! first the buffered events after it, then live ones, until `complete`. The registry also
//! cancels, enforces a per-owner limit on active requests and expires requests after a TTL.
//!
//! [`InMemoryRegistry`] serves one process; a Redis implementation of the same trait serves a
//! cluster. [`Engine::submit`] ties an engine to a registry.

mod event_log;
pub(crate) mod observe;

pub use observe::{ObservedRegistry, RegistryObserver};

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::time::Instant;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::engine::comparison::{CompareOptions, Engine};
use crate::types::error::{Error, Result};
use crate::types::event::{Event, EventKind, RequestStatus};
use crate::types::request::{ChatRequest, CompareRequest};

/// A stream of a request's events.
pub type EventStream = BoxStream<'static, Event>;

/// A request to register: who asks, for which models, under which id.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRequest {
    /// Its id: a fresh UUIDv7 from [`NewRequest::new`], or one the caller chose (a server that
    /// records the request before registering it).
    pub id: String,
    /// Who asks.
    pub owner: String,
    /// Its models, by `model_index`.
    pub models: Vec<String>,
    /// The caller's own data, returned by [`RequestRegistry::status`].
    pub metadata: Option<serde_json::Value>,
    /// Blind: readers show "Model A", "Model B", … instead of model ids (see
    /// [`Event::blinded`]).
    pub blind: bool,
    /// The server instance that runs it ("" when there is one server). A registry shared by
    /// a cluster remembers which requests each instance has not ended, so that instance,
    /// restarted after a crash, can end them (see [`RequestRegistry::left_unfinished`]).
    pub instance: String,
}

impl NewRequest {
    /// A request of `owner` over `models`, with a new UUIDv7 id.
    pub fn new(owner: impl Into<String>, models: Vec<String>) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            owner: owner.into(),
            models,
            metadata: None,
            blind: false,
            instance: String::new(),
        }
    }

    /// With the caller's own data.
    pub fn metadata(mut self, metadata: Option<serde_json::Value>) -> Self {
        self.metadata = metadata;
        self
    }
}

/// A newly registered request.
#[derive(Debug, Clone)]
pub struct Registration {
    /// Its id (UUIDv7: unique and time-ordered).
    pub id: String,
    /// Cancelled when anyone cancels the request, or when it expires unopened.
    pub cancel: CancellationToken,
}

/// What the registry knows of a request.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RequestInfo {
    /// The id.
    pub id: String,
    /// Who registered it.
    pub owner: String,
    /// Its status.
    pub status: RequestStatus,
    /// Its models, by `model_index`.
    pub models: Vec<String>,
    /// When it was registered (Unix milliseconds).
    pub created_at_ms: u64,
    /// The caller's own data, as given at registration.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<serde_json::Value>,
    /// Whether model ids are hidden from readers until the vote.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub blind: bool,
    /// The `seq` of its last published event (0 before the first).
    pub last_seq: u64,
}

/// Stores requests and their events; the POST-then-stream backbone.
#[async_trait]
pub trait RequestRegistry: Send + Sync + std::fmt::Debug {
    /// Registers a request. Fails with [`Error::RateLimited`] when its owner already has the
    /// maximum number of active (pending or running) requests, and with [`Error::Conflict`]
    /// when its id is taken.
    async fn register(&self, request: &NewRequest) -> Result<Registration>;

    /// Appends events (in `seq` order) to a request's log and wakes its subscribers.
    async fn publish(&self, id: &str, events: Vec<Event>) -> Result<()>;

    /// The request's status. Unknown, expired or another owner's → [`Error::NotFound`].
    async fn status(&self, owner: &str, id: &str) -> Result<RequestInfo>;

    /// The request's events with `seq > after_seq`: buffered ones first, then live ones,
    /// ending after `complete`. Unknown, expired or another owner's → [`Error::NotFound`].
    async fn subscribe(&self, owner: &str, id: &str, after_seq: u64) -> Result<EventStream>;

    /// The request's buffered events with `seq > after_seq`, without waiting for more
    /// (snapshots). Unknown, expired or another owner's → [`Error::NotFound`].
    async fn events(&self, owner: &str, id: &str, after_seq: u64) -> Result<Vec<Event>>;

    /// Cancels the request (idempotent; a finished request stays as it is).
    async fn cancel(&self, owner: &str, id: &str) -> Result<()>;

    /// Takes one of `owner`'s active slots (the same ones [`RequestRegistry::register`]
    /// counts) for work whose events the registry does not hold — an OpenAI-compatible chat
    /// completion, read by its caller alone — or, with `max`, one of at most `max` slots of
    /// another subject (an API key's own limit). [`Error::RateLimited`] when all are taken;
    /// the slot is free again when the lease is dropped.
    async fn lease(&self, owner: &str, max: Option<usize>) -> Result<ActiveLease>;

    /// Whether the registry's backing state answers ([`Error::Unavailable`] when it does
    /// not).
    async fn ping(&self) -> Result<()>;

    /// Ends `owner`'s request `id`, which a process that died left unfinished (that process,
    /// restarted, calls this): appends `ending`, numbered after the request's last event (the
    /// request's status becomes the one its `complete` carries), unless the request has ended
    /// or moved on meanwhile. `false` when there was nothing to
    /// end (unknown, expired, finished): a registry in a process's memory died with it.
    async fn end_abandoned(&self, owner: &str, id: &str, ending: Vec<EventKind>) -> Result<bool>;

    /// `(owner, id)` of every request registered by `instance` whose log has not ended — for
    /// that instance restarted after a crash, including the requests its store had already
    /// finished when the process died before publishing their `complete`. A registry in a
    /// process's memory died with it: nothing.
    async fn left_unfinished(&self, instance: &str) -> Result<Vec<(String, String)>>;
}

/// `kinds` as events numbered from `after + 1`.
pub fn numbered(after: u64, kinds: Vec<EventKind>) -> Vec<Event> {
    kinds
        .into_iter()
        .zip(after + 1..)
        .map(|(kind, seq)| Event { seq, kind })
        .collect()
}

/// One of an owner's active slots, held until dropped (see [`RequestRegistry::lease`]).
pub struct ActiveLease(Option<Box<dyn FnOnce() + Send + Sync>>);

impl ActiveLease {
    /// A lease that runs `release` when dropped.
    pub fn new(release: impl FnOnce() + Send + Sync + 'static) -> Self {
        Self(Some(Box::new(release)))
    }
}

impl std::fmt::Debug for ActiveLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActiveLease").finish_non_exhaustive()
    }
}

impl Drop for ActiveLease {
    fn drop(&mut self) {
        if let Some(release) = self.0.take() {
            release();
        }
    }
}

/// The error for an owner whose active slots are all taken.
pub fn too_many_active(active: usize, max: usize) -> Error {
    Error::RateLimited {
        message: format!("{active} active requests: at most {max} at once per caller"),
        retry_after: Some(Duration::from_secs(1)),
    }
}

/// Limits and TTLs of a registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistryConfig {
    /// Most active (pending or running) requests per owner.
    pub max_active_per_owner: usize,
    /// How long a finished request stays readable.
    pub retention: Duration,
    /// How long a request may go without anyone subscribing before it is cancelled and
    /// dropped.
    pub unopened_ttl: Duration,
    /// The most memory finished requests may hold through their retention (estimated, in
    /// bytes; `None`: no cap). Past it the oldest finished ones go early: their events are no
    /// longer streamed from here (like expired ones), and with a store their snapshots are
    /// read from it.
    pub max_retained_bytes: Option<usize>,
}

/// The default [`RegistryConfig::max_retained_bytes`]: 256 MiB.
pub const DEFAULT_MAX_RETAINED_BYTES: usize = 256 << 20;

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            max_active_per_owner: 5,
            retention: Duration::from_secs(300),
            unopened_ttl: Duration::from_secs(300),
            max_retained_bytes: Some(DEFAULT_MAX_RETAINED_BYTES),
        }
    }
}

struct Entry {
    id: String,
    owner: String,
    models: Vec<String>,
    created: Instant,
    created_at_ms: u64,
    metadata: Option<serde_json::Value>,
    blind: bool,
    cancel: CancellationToken,
    state: Mutex<EntryState>,
    notify: watch::Sender<u64>,
}

struct EntryState {
    events: crate::registry::event_log::EventLog,
    status: RequestStatus,
    finished_at: Option<Instant>,
    opened: bool,
}

impl Entry {
    fn expired(&self, now: Instant, config: &RegistryConfig) -> bool {
        let st = self.state.lock();
        match st.finished_at {
            Some(t) => now.duration_since(t) > config.retention,
            None => !st.opened && now.duration_since(self.created) > config.unopened_ttl,
        }
    }

    fn is_active(&self) -> bool {
        self.state.lock().finished_at.is_none()
    }

    /// What the entry itself holds beside its events (estimated).
    fn approx_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.id.len()
            + self.owner.len()
            + self.models.iter().map(|m| m.len() + 24).sum::<usize>()
            + self.metadata.as_ref().map_or(0, |m| m.to_string().len() * 2)
            // The tables' key, queue entry and map slot.
            + 2 * self.id.len()
            + 128
    }
}

#[derive(Default)]
struct Tables {
    entries: HashMap<String, Arc<Entry>>,
    active: HashMap<String, usize>,
    /// Ids by creation time: candidates for the unopened TTL, oldest first.
    created: VecDeque<(Instant, String)>,
    /// Ids by finish time, with the memory each holds: candidates for the retention TTL and
    /// the memory cap, oldest first.
    finished: VecDeque<(Instant, String, usize)>,
    /// What the finished requests hold, estimated (the sum over `finished`).
    retained_bytes: usize,
}

impl Tables {
    fn release(&mut self, owner: &str) {
        if let Some(n) = self.active.get_mut(owner) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.active.remove(owner);
            }
        }
    }

    /// Drops the request that finished first.
    fn drop_oldest_finished(&mut self) {
        if let Some((_, id, bytes)) = self.finished.pop_front() {
            self.retained_bytes = self.retained_bytes.saturating_sub(bytes);
            self.remove(&id);
        }
    }

    /// `id` finished now, holding `bytes`; the oldest finished go while the total is over
    /// the cap.
    fn finished(&mut self, id: String, bytes: usize, config: &RegistryConfig) {
        self.finished.push_back((Instant::now(), id, bytes));
        self.retained_bytes += bytes;
        if let Some(cap) = config.max_retained_bytes {
            while self.retained_bytes > cap && !self.finished.is_empty() {
                self.drop_oldest_finished();
            }
        }
    }

    fn remove(&mut self, id: &str) {
        if let Some(e) = self.entries.remove(id)
            && e.is_active()
        {
            // Expired before it finished: its work stops, its slot is freed.
            e.cancel.cancel();
            self.release(&e.owner);
        }
    }

    /// Drops expired entries; an unfinished one is cancelled (its work stops). Both queues are
    /// in deadline order (the TTLs are fixed), so this touches only what expires: no scan of
    /// every request on the hot path.
    fn sweep(&mut self, now: Instant, config: &RegistryConfig) {
        while let Some((t, _, _)) = self.finished.front() {
            if now.duration_since(*t) <= config.retention {
                break;
            }
            self.drop_oldest_finished();
        }
        while let Some((t, _)) = self.created.front() {
            if now.duration_since(*t) <= config.unopened_ttl {
                break;
            }
            let Some((_, id)) = self.created.pop_front() else {
                break;
            };
            let expired = self.entries.get(&id).is_some_and(|e| {
                let st = e.state.lock();
                !st.opened && st.finished_at.is_none()
            });
            if expired {
                self.remove(&id);
            }
        }
    }
}

struct Inner {
    config: RegistryConfig,
    tables: Mutex<Tables>,
}

/// A [`RequestRegistry`] in this process's memory.
#[derive(Clone)]
pub struct InMemoryRegistry {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for InMemoryRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemoryRegistry")
            .field("config", &self.inner.config)
            .field("requests", &self.inner.tables.lock().entries.len())
            .finish()
    }
}

impl Default for InMemoryRegistry {
    fn default() -> Self {
        Self::new(RegistryConfig::default())
    }
}

impl InMemoryRegistry {
    /// A registry with `config`. Inside a Tokio runtime it also starts a sweeper task that
    /// expires requests on time (it stops when the registry is dropped); outside one,
    /// expiry happens on access.
    pub fn new(config: RegistryConfig) -> Self {
        let inner = Arc::new(Inner {
            config,
            tables: Mutex::new(Tables::default()),
        });
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let period = (config.retention.min(config.unopened_ttl) / 10)
                .clamp(Duration::from_millis(5), Duration::from_secs(5));
            rt.spawn(sweeper(Arc::downgrade(&inner), period));
        }
        Self { inner }
    }

    /// Requests currently held (for metrics).
    pub fn len(&self) -> usize {
        self.inner.tables.lock().entries.len()
    }

    /// Whether no request is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What finished requests hold through their retention (estimated bytes; see
    /// [`RegistryConfig::max_retained_bytes`]).
    pub fn retained_bytes(&self) -> usize {
        self.inner.tables.lock().retained_bytes
    }

    /// Active (pending or running) requests of every owner.
    pub fn active_total(&self) -> usize {
        self.inner.tables.lock().active.values().sum()
    }

    /// Cancels every active request (shutdown).
    pub fn cancel_all(&self) {
        for e in self.inner.tables.lock().entries.values() {
            e.cancel.cancel();
        }
    }

    /// Active requests of `owner`.
    pub fn active_count(&self, owner: &str) -> usize {
        self.inner
            .tables
            .lock()
            .active
            .get(owner)
            .copied()
            .unwrap_or(0)
    }

    fn entry(&self, owner: &str, id: &str) -> Result<Arc<Entry>> {
        let mut t = self.inner.tables.lock();
        let entry = t.entries.get(id).cloned();
        match entry {
            Some(e) if e.owner == owner => {
                if e.expired(Instant::now(), &self.inner.config) {
                    t.sweep(Instant::now(), &self.inner.config);
                    Err(not_found(id))
                } else {
                    Ok(e)
                }
            }
            _ => Err(not_found(id)),
        }
    }
}

fn not_found(id: &str) -> Error {
    Error::NotFound(format!("no request `{id}` (unknown, expired or not yours)"))
}

async fn sweeper(inner: Weak<Inner>, period: Duration) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        inner.tables.lock().sweep(Instant::now(), &inner.config);
    }
}

#[async_trait]
impl RequestRegistry for InMemoryRegistry {
    async fn register(&self, request: &NewRequest) -> Result<Registration> {
        let config = self.inner.config;
        let owner = request.owner.as_str();
        let mut t = self.inner.tables.lock();
        if t.entries.contains_key(&request.id) {
            return Err(Error::Conflict(format!(
                "a request `{}` exists already",
                request.id
            )));
        }
        let active = t.active.get(owner).copied().unwrap_or(0);
        if active >= config.max_active_per_owner {
            return Err(too_many_active(active, config.max_active_per_owner));
        }
        let id = request.id.clone();
        let cancel = CancellationToken::new();
        let created_at_ms = u64::try_from(crate::now_ms()).unwrap_or(0);
        let entry = Arc::new(Entry {
            id: id.clone(),
            owner: owner.to_string(),
            models: request.models.clone(),
            created: Instant::now(),
            created_at_ms,
            metadata: request.metadata.clone(),
            blind: request.blind,
            cancel: cancel.clone(),
            state: Mutex::new(EntryState {
                events: crate::registry::event_log::EventLog::default(),
                status: RequestStatus::Pending,
                finished_at: None,
                opened: false,
            }),
            notify: watch::Sender::new(0),
        });
        t.created.push_back((entry.created, id.clone()));
        t.entries.insert(id.clone(), entry);
        *t.active.entry(owner.to_string()).or_insert(0) += 1;
        Ok(Registration { id, cancel })
    }

    async fn publish(&self, id: &str, events: Vec<Event>) -> Result<()> {
        let entry = self
            .inner
            .tables
            .lock()
            .entries
            .get(id)
            .cloned()
            .ok_or_else(|| not_found(id))?;
        let (last, finished_now, bytes) = {
            let mut st = entry.state.lock();
            if st.finished_at.is_some() {
                return Err(Error::invalid("events", "the request already completed"));
            }
            let mut finished_now = false;
            for e in &events {
                match &e.kind {
                    EventKind::Status { status } => st.status = *status,
                    EventKind::Complete(c) => {
                        st.status = c.status;
                        finished_now = true;
                    }
                    _ => {}
                }
            }
            st.events.extend(events);
            if finished_now {
                st.finished_at = Some(Instant::now());
                // Kept only for late readers now: held small through the retention window.
                st.events.compact();
            }
            let bytes = if finished_now {
                entry.approx_bytes() + st.events.approx_bytes()
            } else {
                0
            };
            (st.events.last_seq(), finished_now, bytes)
        };
        // Entry lock released before the table lock: the sweeper takes them the other way.
        if finished_now {
            let mut t = self.inner.tables.lock();
            t.release(&entry.owner);
            t.finished(entry.id.clone(), bytes, &self.inner.config);
        }
        entry.notify.send_replace(last);
        Ok(())
    }

    async fn status(&self, owner: &str, id: &str) -> Result<RequestInfo> {
        let e = self.entry(owner, id)?;
        let st = e.state.lock();
        Ok(RequestInfo {
            id: e.id.clone(),
            owner: e.owner.clone(),
            status: st.status,
            models: e.models.clone(),
            created_at_ms: e.created_at_ms,
            metadata: e.metadata.clone(),
            blind: e.blind,
            last_seq: st.events.last_seq(),
        })
    }

    async fn subscribe(&self, owner: &str, id: &str, after_seq: u64) -> Result<EventStream> {
        let entry = self.entry(owner, id)?;
        entry.state.lock().opened = true;
        // Subscribed before the first read: a publish after that read wakes us.
        let mut rx = entry.notify.subscribe();
        let stream = async_stream::stream! {
            let mut cursor = after_seq;
            loop {
                let (batch, finished) = {
                    let st = entry.state.lock();
                    (st.events.after(cursor), st.finished_at.is_some())
                };
                for e in batch {
                    cursor = e.seq;
                    yield e;
                }
                if finished || rx.changed().await.is_err() {
                    break;
                }
            }
        };
        Ok(stream.boxed())
    }

    async fn events(&self, owner: &str, id: &str, after_seq: u64) -> Result<Vec<Event>> {
        let entry = self.entry(owner, id)?;
        let st = entry.state.lock();
        Ok(st.events.after(after_seq))
    }

    async fn ping(&self) -> Result<()> {
        // This process's memory: it answers while the process does.
        Ok(())
    }

    async fn lease(&self, owner: &str, max: Option<usize>) -> Result<ActiveLease> {
        let max = max.unwrap_or(self.inner.config.max_active_per_owner);
        let mut t = self.inner.tables.lock();
        let active = t.active.get(owner).copied().unwrap_or(0);
        if active >= max {
            return Err(too_many_active(active, max));
        }
        *t.active.entry(owner.to_string()).or_insert(0) += 1;
        let inner = Arc::downgrade(&self.inner);
        let owner = owner.to_string();
        Ok(ActiveLease::new(move || {
            if let Some(inner) = inner.upgrade() {
                inner.tables.lock().release(&owner);
            }
        }))
    }

    async fn cancel(&self, owner: &str, id: &str) -> Result<()> {
        self.entry(owner, id)?.cancel.cancel();
        Ok(())
    }

    async fn end_abandoned(&self, owner: &str, id: &str, ending: Vec<EventKind>) -> Result<bool> {
        let Ok(entry) = self.entry(owner, id) else {
            return Ok(false);
        };
        let last = {
            let st = entry.state.lock();
            if st.finished_at.is_some() {
                return Ok(false);
            }
            st.events.last_seq()
        };
        self.publish(id, numbered(last, ending)).await?;
        Ok(true)
    }

    // What this process registered lives and dies with it.
    async fn left_unfinished(&self, _instance: &str) -> Result<Vec<(String, String)>> {
        Ok(Vec::new())
    }
}

impl Engine {
    /// Validates `request`, registers it for `owner` and starts it in the background;
    /// its events go into `registry`. Returns the request id.
    ///
    /// A bad request is refused before it is registered (it uses none of the owner's quota).
    pub async fn submit(
        &self,
        registry: Arc<dyn RequestRegistry>,
        owner: &str,
        request: &CompareRequest,
    ) -> Result<String> {
        let calls = self.plan(request)?;
        self.submit_calls(registry, NewRequest::new(owner, Vec::new()), calls)
            .await
    }

    /// [`Engine::submit`] for prepared per-model calls (sessions) under `request`'s id,
    /// owner, metadata and blindness (its models are those of `calls`).
    pub async fn submit_calls(
        &self,
        registry: Arc<dyn RequestRegistry>,
        request: NewRequest,
        calls: Vec<ChatRequest>,
    ) -> Result<String> {
        self.submit_calls_holding(registry, request, calls, None, CompareOptions::default())
            .await
    }

    /// [`Engine::submit_calls`], holding `lease` (an API key's active slot) until the
    /// request's last event is published, with `options` (tools, steps; its id and cancel
    /// token are the registry's).
    pub async fn submit_calls_holding(
        &self,
        registry: Arc<dyn RequestRegistry>,
        mut request: NewRequest,
        calls: Vec<ChatRequest>,
        lease: Option<ActiveLease>,
        options: CompareOptions,
    ) -> Result<String> {
        request.models = calls.iter().map(|c| c.model.to_string()).collect();
        let reg = registry.register(&request).await?;
        let comparison = match self.compare_calls(
            calls,
            CompareOptions {
                request_id: Some(reg.id.clone()),
                cancel: Some(reg.cancel.clone()),
                ..options
            },
        ) {
            Ok(c) => c,
            Err(e) => {
                reg.cancel.cancel();
                return Err(e);
            }
        };
        let id = reg.id.clone();
        tokio::spawn(async move {
            let _lease = lease;
            // Publish whatever is ready in one go: one registry write per burst, not per token.
            let mut batches = crate::engine::burst::bursts(comparison, 256);
            while let Some(batch) = batches.next().await {
                if registry.publish(&reg.id, batch).await.is_err() {
                    // The request is gone (expired): dropping the comparison stops its work.
                    break;
                }
            }
        });
        Ok(id)
    }
}
