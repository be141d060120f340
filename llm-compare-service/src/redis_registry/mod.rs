//! [`RedisRegistry`]: the request registry of a cluster of servers, in Redis.
//!
//! Each request is a hash (`{prefix}:req:{id}`: owner, models, status, last seq, …) and a
//! Redis Stream of its events (`{prefix}:ev:{id}`) whose entry ids are `{seq}-1`, so "the
//! events after seq N" is a plain `XREAD`/`XRANGE` from `N-1`. Both expire: a finished
//! request after the retention TTL. So a request POSTed on one server can be streamed,
//! resumed (`Last-Event-ID`), inspected and cancelled on any other.
//!
//! Active requests per owner are a sorted set (`{prefix}:active:{owner}`) checked and added
//! to by one Lua script, so the per-owner limit holds across servers. Scores are deadlines
//! that the server running a request pushes forward every few seconds: if that server dies,
//! its requests stop counting within [`LEASE`].
//!
//! Cancels travel on a pub/sub channel (`{prefix}:cancel`) to the server running the
//! request, which owns the upstream calls. Events travel twice: into the request's stream (the
//! log any reader resumes from) and, in the same transaction, on its channel (`{prefix}:ev:{id}`).
//! A server holds two Redis connections whatever the number of open streams ([`hub`]): the
//! multiplexed one for commands and one pub/sub connection for cancels and the channels of the
//! requests its readers follow; readers of the requests it runs are fed in process.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use llm_compare_core::{
    ActiveLease, Error, ErrorCode, Event, EventKind, EventStream, NewRequest, Registration,
    RegistryConfig, RequestInfo, RequestRegistry, RequestStatus, Result, too_many_active,
};
use parking_lot::Mutex;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSubSink};
use tokio_util::sync::CancellationToken;

/// How long an active request counts against its owner's limit without its server renewing
/// it (the server renews every third of it).
pub const LEASE: Duration = Duration::from_secs(30);

mod hub;

use hub::{Batch, Follow, Hub, Step};

/// How long a subscriber waits for live events before reading the log (a lost pub/sub
/// message costs at most this) and checking that the request still exists.
const QUIET: Duration = Duration::from_secs(2);

/// Events read from the log at once.
const LOG_PAGE: usize = 512;

fn now_ms() -> u64 {
    u64::try_from(llm_compare_core::now_ms()).unwrap_or(0)
}

/// A Redis failure as the core error: Redis unreachable, dropped or timing out is
/// [`Error::Unavailable`] (503, retryable); anything else is internal. The source goes to the
/// log.
fn redis_err(e: redis::RedisError) -> Error {
    if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout() {
        tracing::warn!(target: "llm_compare::registry", error = %e, "redis unavailable");
        Error::unavailable("the request registry (Redis) is unreachable; try again shortly")
    } else {
        tracing::error!(target: "llm_compare::registry", error = %e, "redis error");
        Error::Internal(format!("redis: {e}"))
    }
}

/// Redis could not be reached at start-up.
fn cannot_reach(url: &str, e: &redis::RedisError) -> Error {
    Error::Unavailable {
        message: format!("cannot reach Redis at {url}: {e}"),
        retry_after: Some(Duration::from_secs(1)),
    }
}

/// The notice that ends a subscription when Redis goes away: a request-wide `unavailable`
/// error at the last event's `seq` (not part of the log: resume after `last`).
fn unavailable_notice(last: u64, e: &Error) -> Event {
    Event {
        seq: last,
        kind: EventKind::Error {
            model_index: None,
            model: None,
            code: ErrorCode::Unavailable,
            message: format!("{e}; resume with Last-Event-ID once it is back"),
            retryable: true,
        },
    }
}

/// A request hash field that does not decode: an error, never a default.
fn corrupt(id: &str, field: &str, value: &str) -> Error {
    Error::Internal(format!(
        "request `{id}` in Redis has a corrupt `{field}`: {value:?}"
    ))
}

/// A request hash's `status` (absent: the hash expired between two reads).
fn stored_status(id: &str, value: &str) -> Result<RequestStatus> {
    serde_json::from_value(serde_json::Value::String(value.into()))
        .map_err(|_| corrupt(id, "status", value))
}

/// A request hash (`h`, read as `owner`'s) as the registry's answer; strict, field by field.
fn decode_info(owner: &str, id: &str, h: &HashMap<String, String>) -> Result<RequestInfo> {
    let field = |k: &str| h.get(k).map(String::as_str).unwrap_or_default();
    let number = |k: &str| {
        field(k)
            .parse::<u64>()
            .map_err(|_| corrupt(id, k, field(k)))
    };
    let metadata = match field("metadata") {
        "" => None,
        m => Some(serde_json::from_str(m).map_err(|_| corrupt(id, "metadata", m))?),
    };
    let blind = match field("blind") {
        "1" => true,
        "0" => false,
        b => return Err(corrupt(id, "blind", b)),
    };
    Ok(RequestInfo {
        id: id.to_string(),
        owner: owner.to_string(),
        status: stored_status(id, field("status"))?,
        models: serde_json::from_str(field("models"))
            .map_err(|_| corrupt(id, "models", field("models")))?,
        created_at_ms: number("created_at_ms")?,
        metadata,
        blind,
        last_seq: number("last_seq")?,
    })
}

fn not_found(id: &str) -> Error {
    Error::NotFound(format!("no request `{id}` (unknown, expired or not yours)"))
}

/// Checks the owner's active set (dropping lapsed leases), then adds the request and writes
/// its hash — atomically, on whichever server runs it — and, given an instance's set of
/// unended requests (KEYS[3]), adds it there too.
const REGISTER: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local active = redis.call('ZCARD', KEYS[1])
if active >= tonumber(ARGV[2]) then return active end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('HSET', KEYS[2], unpack(ARGV, 7))
redis.call('PEXPIRE', KEYS[2], ARGV[5])
if KEYS[3] then
  redis.call('SADD', KEYS[3], ARGV[4])
  redis.call('PEXPIRE', KEYS[3], ARGV[5])
end
return -2
";

/// Takes an active slot without a request hash (a lease for work the registry does not
/// hold): the same check as [`REGISTER`], in the same set.
const LEASE_SLOT: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local active = redis.call('ZCARD', KEYS[1])
if active >= tonumber(ARGV[2]) then return active end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return -2
";

/// Appends the ending of a request whose server died (see
/// [`RequestRegistry::end_abandoned`]), unless its log moved on since it was read: the new
/// events, its final status, retention TTLs, its active slot released and (KEYS[4], when it
/// was registered by an instance) its entry in that instance's unended set removed.
const END_ABANDONED: &str = r"
if redis.call('HGET', KEYS[1], 'last_seq') ~= ARGV[1] then return 0 end
for i = 6, #ARGV, 2 do redis.call('XADD', KEYS[2], ARGV[i], 'e', ARGV[i + 1]) end
redis.call('HSET', KEYS[1], 'last_seq', ARGV[3], 'status', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('ZREM', KEYS[3], ARGV[5])
if KEYS[4] then redis.call('SREM', KEYS[4], ARGV[5]) end
return 1
";

/// How long a comparison's publish is retried while Redis is unreachable before the
/// comparison is given up.
const PUBLISH_RETRY: Duration = Duration::from_secs(30);

/// A request this server runs.
struct Local {
    owner: String,
    /// The instance that registered it ("": no set of unended requests to leave).
    instance: String,
    cancel: CancellationToken,
}

struct Inner {
    client: redis::Client,
    conn: ConnectionManager,
    prefix: String,
    config: RegistryConfig,
    local: Mutex<HashMap<String, Local>>,
    shutdown: CancellationToken,
    /// This server's stream readers.
    hub: Hub,
    /// Subscribes channels on the pub/sub connection (`None` while it reconnects).
    sink: Mutex<Option<PubSubSink>>,
}

/// The registry of a cluster of servers, in Redis.
#[derive(Clone)]
pub struct RedisRegistry(Arc<Inner>);

impl std::fmt::Debug for RedisRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRegistry")
            .field("prefix", &self.0.prefix)
            .finish_non_exhaustive()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl RedisRegistry {
    /// Connects to `url` (`redis://HOST:PORT[/DB]`); keys start with `prefix` (servers of one
    /// cluster share it). Starts the cancel listener and the lease renewal.
    pub async fn connect(url: &str, prefix: &str, config: RegistryConfig) -> Result<Self> {
        let client = redis::Client::open(url)
            .map_err(|e| Error::invalid("registry", format!("bad Redis URL: {e}")))?;
        // A Redis that is down or hung fails a command within about a second (then
        // `unavailable`), instead of holding the request through long reconnect backoffs.
        let manager = ConnectionManagerConfig::new()
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500))
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(1)));
        let conn = ConnectionManager::new_with_config(client.clone(), manager)
            .await
            .map_err(|e| cannot_reach(url, &e))?;
        let channel = format!("{prefix}:cancel");
        let mut pubsub = client
            .get_async_pubsub()
            .await
            .map_err(|e| cannot_reach(url, &e))?;
        pubsub.subscribe(&channel).await.map_err(redis_err)?;
        let (sink, messages) = pubsub.split();
        let inner = Arc::new(Inner {
            client,
            conn,
            prefix: prefix.to_string(),
            config,
            local: Mutex::new(HashMap::new()),
            shutdown: CancellationToken::new(),
            hub: Hub::default(),
            sink: Mutex::new(Some(sink)),
        });
        // Cancels from any server reach the one running the request, and events of requests
        // running elsewhere reach their readers here; when Redis goes away the listener
        // reconnects (with backoff) once it is back, and listens again to what is read here.
        let weak = Arc::downgrade(&inner);
        let stop = inner.shutdown.clone();
        tokio::spawn(async move {
            let mut messages = Some(messages);
            let mut failures = 0u32;
            loop {
                let current = match messages.take() {
                    Some(m) => m,
                    None => {
                        let Some(inner) = weak.upgrade() else {
                            return;
                        };
                        let client = inner.client.clone();
                        let again = async {
                            let mut p = client.get_async_pubsub().await?;
                            p.subscribe(&channel).await?;
                            let (mut sink, stream) = p.split();
                            for id in inner.hub.listened() {
                                sink.subscribe(inner.ev_key(&id)).await?;
                            }
                            Ok::<_, redis::RedisError>((sink, stream))
                        };
                        match again.await {
                            Ok((sink, stream)) => {
                                failures = 0;
                                *inner.sink.lock() = Some(sink);
                                stream
                            }
                            Err(_) => {
                                drop(inner);
                                tokio::select! {
                                    () = stop.cancelled() => return,
                                    () = tokio::time::sleep(crate::backlog::backoff(failures)) => {}
                                }
                                failures = failures.saturating_add(1);
                                continue;
                            }
                        }
                    }
                };
                let mut current = current;
                loop {
                    let msg = tokio::select! {
                        () = stop.cancelled() => return,
                        m = current.next() => m,
                    };
                    // The connection is gone: reconnect.
                    let Some(msg) = msg else { break };
                    let Some(inner) = weak.upgrade() else { return };
                    inner.received(&channel, &msg);
                }
                if let Some(inner) = weak.upgrade() {
                    inner.sink.lock().take();
                }
            }
        });
        // Renew the leases of the requests running here.
        let weak = Arc::downgrade(&inner);
        let stop = inner.shutdown.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(LEASE / 3);
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let Some(inner) = weak.upgrade() else { return };
                let running: Vec<(String, String)> = inner
                    .local
                    .lock()
                    .iter()
                    .map(|(id, l)| (id.clone(), l.owner.clone()))
                    .collect();
                if running.is_empty() {
                    continue;
                }
                let deadline = now_ms() + LEASE.as_millis() as u64;
                let mut pipe = redis::pipe();
                for (id, owner) in &running {
                    pipe.cmd("ZADD")
                        .arg(inner.active_key(owner))
                        .arg("XX")
                        .arg(deadline)
                        .arg(id)
                        .ignore();
                }
                let mut conn = inner.conn.clone();
                let _: std::result::Result<(), _> = pipe.query_async(&mut conn).await;
            }
        });
        Ok(Self(inner))
    }

    /// Requests running on this server.
    pub fn active_total(&self) -> usize {
        self.0.local.lock().len()
    }

    /// Cancels every request running on this server (shutdown).
    pub fn cancel_all(&self) {
        for l in self.0.local.lock().values() {
            l.cancel.cancel();
        }
    }

    fn conn(&self) -> ConnectionManager {
        self.0.conn.clone()
    }

    /// The `seq` of the last event in stream `ev` (0 when empty).
    async fn stream_top(&self, ev: &str) -> Result<u64> {
        let reply: redis::streams::StreamRangeReply = redis::cmd("XREVRANGE")
            .arg(ev)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut self.conn())
            .await
            .map_err(redis_err)?;
        Ok(reply
            .ids
            .first()
            .and_then(|e| e.id.split('-').next())
            .and_then(|seq| seq.parse().ok())
            .unwrap_or(0))
    }

    /// The request's hash, if it is `owner`'s.
    async fn info(&self, owner: &str, id: &str) -> Result<HashMap<String, String>> {
        let h: HashMap<String, String> = self
            .conn()
            .hgetall(self.0.req_key(id))
            .await
            .map_err(redis_err)?;
        if h.get("owner").map(String::as_str) != Some(owner) {
            return Err(not_found(id));
        }
        Ok(h)
    }

    /// Unopened TTL: cancel the request if nobody subscribed in time.
    fn watch_unopened(&self, id: String) {
        let weak = Arc::downgrade(&self.0);
        let ttl = self.0.config.unopened_ttl;
        tokio::spawn(async move {
            tokio::time::sleep(ttl).await;
            let Some(inner) = weak.upgrade() else { return };
            let mut conn = inner.conn.clone();
            let opened: Option<String> = conn
                .hget(inner.req_key(&id), "opened")
                .await
                .unwrap_or(None);
            if opened.as_deref() != Some("1")
                && let Some(l) = inner.local.lock().get(&id)
            {
                l.cancel.cancel();
            }
        });
    }
}

/// A reader of one request here; leaving stops listening to its channel when it was the last.
struct Reader {
    inner: Arc<Inner>,
    id: String,
}

impl Drop for Reader {
    fn drop(&mut self) {
        if !self.inner.hub.leave(&self.id) {
            return;
        }
        let Some(mut sink) = self.inner.sink.lock().clone() else {
            return;
        };
        let (weak, id) = (Arc::downgrade(&self.inner), self.id.clone());
        let channel = self.inner.ev_key(&self.id);
        tokio::spawn(async move {
            // A reader that came back meanwhile keeps the subscription.
            if weak.upgrade().is_some_and(|i| !i.hub.listening(&id)) {
                let _ = sink.unsubscribe(channel).await;
            }
        });
    }
}

impl RedisRegistry {
    /// Subscribes the channel of request `id` on the pub/sub connection. Without one (it
    /// reconnects), readers follow the log until it is back and listens again.
    async fn listen(&self, id: &str) {
        let Some(mut sink) = self.0.sink.lock().clone() else {
            return;
        };
        if let Err(e) = sink.subscribe(self.0.ev_key(id)).await {
            tracing::debug!(target: "llm_compare::registry", error = %e, "channel not subscribed: the reader follows the log");
        }
    }

    /// Readers of streams on this server.
    pub fn readers(&self) -> usize {
        self.0.hub.readers()
    }
}

impl Inner {
    /// A pub/sub message: a cancel for a request running here, or events for readers here.
    fn received(&self, cancel_channel: &str, msg: &redis::Msg) {
        let name = msg.get_channel_name();
        if name == cancel_channel {
            if let Ok(id) = msg.get_payload::<String>()
                && let Some(l) = self.local.lock().get(&id)
            {
                l.cancel.cancel();
            }
            return;
        }
        let Some(id) = name
            .strip_prefix(self.prefix.as_str())
            .and_then(|n| n.strip_prefix(":ev:"))
        else {
            return;
        };
        self.hub.deliver(id, || {
            let payload = msg.get_payload_bytes();
            // A batch that does not parse is skipped: the reader finds the gap and reads the log.
            serde_json::from_slice::<Vec<Event>>(payload)
                .ok()
                .map(Batch::from)
        });
    }

    fn req_key(&self, id: &str) -> String {
        format!("{}:req:{id}", self.prefix)
    }
    fn ev_key(&self, id: &str) -> String {
        format!("{}:ev:{id}", self.prefix)
    }
    fn active_key(&self, owner: &str) -> String {
        format!("{}:active:{owner}", self.prefix)
    }
    /// The requests `instance` registered and has not ended: kept so that instance, restarted
    /// after a crash, finds every log it must end — also those whose store rows were already
    /// final (the store is written before `complete` is published).
    fn unended_key(&self, instance: &str) -> String {
        format!("{}:unended:{instance}", self.prefix)
    }
    /// How long a request's keys live while it runs: until it is opened, plus the longest a
    /// comparison may run, plus retention (each publish pushes this forward).
    fn running_ttl(&self) -> Duration {
        self.config.unopened_ttl + self.config.retention + Duration::from_secs(3600)
    }
}

#[async_trait]
impl RequestRegistry for RedisRegistry {
    async fn register(&self, request: &NewRequest) -> Result<Registration> {
        let inner = &self.0;
        let now = now_ms();
        let models = serde_json::to_string(&request.models).unwrap_or_default();
        let metadata = request
            .metadata
            .as_ref()
            .map(|m| m.to_string())
            .unwrap_or_default();
        let ttl = inner.running_ttl().as_millis() as u64;
        let register = redis::Script::new(REGISTER);
        let mut script = register.prepare_invoke();
        script
            .key(inner.active_key(&request.owner))
            .key(inner.req_key(&request.id));
        if !request.instance.is_empty() {
            script.key(inner.unended_key(&request.instance));
        }
        let outcome: i64 = script
            .arg(now)
            .arg(inner.config.max_active_per_owner)
            .arg(now + LEASE.as_millis() as u64)
            .arg(&request.id)
            .arg(ttl)
            .arg(ttl)
            .arg("owner")
            .arg(&request.owner)
            .arg("models")
            .arg(models)
            .arg("created_at_ms")
            .arg(now)
            .arg("metadata")
            .arg(metadata)
            .arg("blind")
            .arg(if request.blind { "1" } else { "0" })
            .arg("status")
            .arg(RequestStatus::Pending.as_str())
            .arg("last_seq")
            .arg(0)
            .arg("opened")
            .arg("0")
            .arg("instance")
            .arg(&request.instance)
            .invoke_async(&mut self.conn())
            .await
            .map_err(redis_err)?;
        match outcome {
            -2 => {}
            -1 => {
                return Err(Error::Conflict(format!(
                    "a request `{}` exists already",
                    request.id
                )));
            }
            active => {
                return Err(too_many_active(
                    usize::try_from(active).unwrap_or(usize::MAX),
                    inner.config.max_active_per_owner,
                ));
            }
        }
        let cancel = CancellationToken::new();
        inner.local.lock().insert(
            request.id.clone(),
            Local {
                owner: request.owner.clone(),
                instance: request.instance.clone(),
                cancel: cancel.clone(),
            },
        );
        self.watch_unopened(request.id.clone());
        Ok(Registration {
            id: request.id.clone(),
            cancel,
        })
    }

    async fn publish(&self, id: &str, events: Vec<Event>) -> Result<()> {
        let inner = &self.0;
        let Some((owner, instance)) = inner
            .local
            .lock()
            .get(id)
            .map(|l| (l.owner.clone(), l.instance.clone()))
        else {
            return Err(not_found(id));
        };
        let (req, ev) = (inner.req_key(id), inner.ev_key(id));
        let mut pipe = redis::pipe();
        let mut status = None;
        let mut finished = false;
        let mut last = 0;
        // The channel's message: the batch as a JSON array of the events as logged.
        let mut batch = String::from("[");
        for e in &events {
            let json = e.to_json();
            if batch.len() > 1 {
                batch.push(',');
            }
            batch.push_str(&json);
            pipe.cmd("XADD")
                .arg(&ev)
                .arg(format!("{}-1", e.seq))
                .arg("e")
                .arg(json)
                .ignore();
            last = e.seq;
            match &e.kind {
                EventKind::Status { status: s } => status = Some(*s),
                EventKind::Complete(c) => {
                    status = Some(c.status);
                    finished = true;
                }
                _ => {}
            }
        }
        batch.push(']');
        // Readers on other servers; nobody listening costs Redis nothing but the message.
        pipe.cmd("PUBLISH").arg(&ev).arg(batch).ignore();
        pipe.cmd("HSET")
            .arg(&req)
            .arg("last_seq")
            .arg(last)
            .ignore();
        if let Some(s) = status {
            pipe.cmd("HSET")
                .arg(&req)
                .arg("status")
                .arg(s.as_str())
                .ignore();
        }
        let ttl = if finished {
            inner.config.retention
        } else {
            inner.running_ttl()
        }
        .as_millis() as u64;
        pipe.cmd("PEXPIRE").arg(&req).arg(ttl).ignore();
        pipe.cmd("PEXPIRE").arg(&ev).arg(ttl).ignore();
        if finished {
            pipe.cmd("ZREM")
                .arg(inner.active_key(&owner))
                .arg(id)
                .ignore();
            if !instance.is_empty() {
                pipe.cmd("SREM")
                    .arg(inner.unended_key(&instance))
                    .arg(id)
                    .ignore();
            }
        }
        // All or nothing (MULTI/EXEC): a retry after a lost reply can ask whether it landed.
        pipe.atomic();
        let started = std::time::Instant::now();
        let mut failures = 0u32;
        loop {
            let err = match pipe.query_async::<()>(&mut self.conn()).await {
                Ok(()) => break,
                Err(e) => redis_err(e),
            };
            // Written already (the reply was lost, or Redis refuses the duplicate ids)?
            if failures > 0 && self.stream_top(&ev).await.is_ok_and(|top| top >= last) {
                break;
            }
            // Redis away for a moment: the comparison waits (its upstream is held by flow
            // control) and goes on once Redis is back, so resuming clients miss nothing.
            if (err.code() != ErrorCode::Unavailable && failures == 0)
                || started.elapsed() > PUBLISH_RETRY
            {
                return Err(err);
            }
            tokio::time::sleep(crate::backlog::backoff(failures)).await;
            failures = failures.saturating_add(1);
        }
        if finished {
            inner.local.lock().remove(id);
        }
        // Readers here, after the log has the events (a reader that reads the log meanwhile
        // skips what it was given).
        inner.hub.deliver(id, || Some(Batch::from(events)));
        Ok(())
    }

    async fn status(&self, owner: &str, id: &str) -> Result<RequestInfo> {
        let h = self.info(owner, id).await?;
        decode_info(owner, id, &h)
    }

    async fn subscribe(&self, owner: &str, id: &str, after_seq: u64) -> Result<EventStream> {
        self.info(owner, id).await?;
        let inner = &self.0;
        let _: () = self
            .conn()
            .hset(inner.req_key(id), "opened", "1")
            .await
            .map_err(redis_err)?;
        // Live events first, then the log: what comes in between is in both, given once.
        let remote = !inner.local.lock().contains_key(id);
        let joined = inner.hub.join(id, remote);
        let reader = Reader {
            inner: inner.clone(),
            id: id.to_string(),
        };
        if joined.listen {
            self.listen(id).await;
        }
        let mut rx = joined.rx;
        let registry = self.clone();
        let (ev, req) = (inner.ev_key(id), inner.req_key(id));
        let stream = async_stream::stream! {
            let _reader = reader;
            let mut follow = Follow::after(after_seq);
            'log: loop {
                // The log from where the reader is.
                loop {
                    let page: redis::RedisResult<redis::streams::StreamRangeReply> = registry
                        .conn()
                        .xrange_count(&ev, format!("({}-1", follow.last()), "+", LOG_PAGE)
                        .await;
                    let page = match page {
                        Ok(page) => page,
                        Err(e) => {
                            // Redis went away: say so (typed, retryable) and end; the client
                            // resumes after the last event once it is back.
                            yield unavailable_notice(follow.last(), &redis_err(e));
                            break 'log;
                        }
                    };
                    let n = page.ids.len();
                    let events: Vec<Event> = page
                        .ids
                        .iter()
                        .filter_map(|e| e.get::<String>("e"))
                        .filter_map(|json| serde_json::from_str(&json).ok())
                        .collect();
                    let (Step::Give(given) | Step::CatchUp(given)) = follow.take(&events);
                    for e in given {
                        yield e;
                    }
                    if follow.done() {
                        break 'log;
                    }
                    if n < LOG_PAGE {
                        break;
                    }
                }
                // Then live, until a gap, a lag or a quiet while sends it back to the log.
                loop {
                    match tokio::time::timeout(QUIET, rx.recv()).await {
                        Ok(Ok(batch)) => match follow.take(&batch) {
                            Step::Give(given) => {
                                for e in given {
                                    yield e;
                                }
                                if follow.done() {
                                    break 'log;
                                }
                            }
                            Step::CatchUp(given) => {
                                for e in given {
                                    yield e;
                                }
                                continue 'log;
                            }
                        },
                        Ok(Err(_)) => continue 'log,
                        Err(_) => {
                            // Quiet: stop if the request is gone, else read the log again.
                            match redis::cmd("EXISTS").arg(&req).query_async::<bool>(&mut registry.conn()).await {
                                Ok(true) => continue 'log,
                                Ok(false) => break 'log,
                                Err(e) => {
                                    yield unavailable_notice(follow.last(), &redis_err(e));
                                    break 'log;
                                }
                            }
                        }
                    }
                }
            }
        };
        Ok(stream.boxed())
    }

    async fn events(&self, owner: &str, id: &str, after_seq: u64) -> Result<Vec<Event>> {
        self.info(owner, id).await?;
        let reply: redis::streams::StreamRangeReply = self
            .conn()
            .xrange(self.0.ev_key(id), format!("({after_seq}-1"), "+")
            .await
            .map_err(redis_err)?;
        Ok(reply
            .ids
            .iter()
            .filter_map(|e| e.get::<String>("e"))
            .filter_map(|json| serde_json::from_str(&json).ok())
            .collect())
    }

    async fn ping(&self) -> Result<()> {
        let _: String = redis::cmd("PING")
            .query_async(&mut self.conn())
            .await
            .map_err(redis_err)?;
        Ok(())
    }

    async fn lease(&self, owner: &str, max: Option<usize>) -> Result<ActiveLease> {
        let inner = &self.0;
        let max = max.unwrap_or(inner.config.max_active_per_owner);
        let now = now_ms();
        // Not a request id: a lease never collides with one, and renewal keeps it alive.
        let id = format!("lease:{}", uuid::Uuid::now_v7());
        let outcome: i64 = redis::Script::new(LEASE_SLOT)
            .key(inner.active_key(owner))
            .arg(now)
            .arg(max)
            .arg(now + LEASE.as_millis() as u64)
            .arg(&id)
            .arg(inner.running_ttl().as_millis() as u64)
            .invoke_async(&mut self.conn())
            .await
            .map_err(redis_err)?;
        if outcome != -2 {
            return Err(too_many_active(
                usize::try_from(outcome).unwrap_or(usize::MAX),
                max,
            ));
        }
        inner.local.lock().insert(
            id.clone(),
            Local {
                owner: owner.to_string(),
                instance: String::new(),
                cancel: CancellationToken::new(),
            },
        );
        let weak = Arc::downgrade(inner);
        let owner = owner.to_string();
        Ok(ActiveLease::new(move || {
            let Some(inner) = weak.upgrade() else { return };
            inner.local.lock().remove(&id);
            let key = inner.active_key(&owner);
            let mut conn = inner.conn.clone();
            // A lease that could not be removed lapses with its deadline.
            tokio::spawn(async move {
                let _: std::result::Result<(), _> = conn.zrem(key, id).await;
            });
        }))
    }

    async fn end_abandoned(&self, owner: &str, id: &str, ending: Vec<EventKind>) -> Result<bool> {
        let h = match self.info(owner, id).await {
            Ok(h) => h,
            Err(e) if e.code() == ErrorCode::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        let field = |k: &str| h.get(k).map(String::as_str).unwrap_or_default();
        if stored_status(id, field("status"))?.is_terminal() {
            return Ok(false);
        }
        let last: u64 = field("last_seq")
            .parse()
            .map_err(|_| corrupt(id, "last_seq", field("last_seq")))?;
        let events = llm_compare_core::registry::numbered(last, ending);
        let Some(end) = events.last() else {
            return Ok(false);
        };
        // What the ending says: `interrupted`, or what the store had already finished.
        let ended_as = events
            .iter()
            .rev()
            .find_map(|e| match &e.kind {
                EventKind::Complete(c) => Some(c.status),
                EventKind::Status { status } => Some(*status),
                _ => None,
            })
            .unwrap_or(RequestStatus::Interrupted);
        let inner = &self.0;
        let end_script = redis::Script::new(END_ABANDONED);
        let mut script = end_script.prepare_invoke();
        script
            .key(inner.req_key(id))
            .key(inner.ev_key(id))
            .key(inner.active_key(owner));
        if !field("instance").is_empty() {
            script.key(inner.unended_key(field("instance")));
        }
        script
            .arg(last)
            .arg(ended_as.as_str())
            .arg(end.seq)
            .arg(inner.config.retention.as_millis() as u64)
            .arg(id);
        for e in &events {
            script.arg(format!("{}-1", e.seq)).arg(e.to_json());
        }
        let ended: i64 = script
            .invoke_async(&mut self.conn())
            .await
            .map_err(redis_err)?;
        if ended == 1 {
            // Readers on other servers now rather than at their next quiet read of the log.
            let batch = format!(
                "[{}]",
                events
                    .iter()
                    .map(Event::to_json)
                    .collect::<Vec<_>>()
                    .join(",")
            );
            let _: redis::RedisResult<()> = redis::cmd("PUBLISH")
                .arg(inner.ev_key(id))
                .arg(batch)
                .query_async(&mut self.conn())
                .await;
        }
        Ok(ended == 1)
    }

    async fn left_unfinished(&self, instance: &str) -> Result<Vec<(String, String)>> {
        let key = self.0.unended_key(instance);
        let mut conn = self.conn();
        let ids: Vec<String> = conn.smembers(&key).await.map_err(redis_err)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("HMGET")
                .arg(self.0.req_key(id))
                .arg("owner")
                .arg("status");
        }
        let rows: Vec<(Option<String>, Option<String>)> =
            pipe.query_async(&mut conn).await.map_err(redis_err)?;
        let (mut left, mut gone) = (Vec::new(), Vec::new());
        for (id, (owner, status)) in ids.into_iter().zip(rows) {
            match (owner, status) {
                (Some(owner), Some(status)) if !stored_status(&id, &status)?.is_terminal() => {
                    left.push((owner, id));
                }
                // Expired, or ended meanwhile: nothing to end.
                _ => gone.push(id),
            }
        }
        if !gone.is_empty() {
            let _: () = conn.srem(&key, gone).await.map_err(redis_err)?;
        }
        Ok(left)
    }

    async fn cancel(&self, owner: &str, id: &str) -> Result<()> {
        self.info(owner, id).await?;
        if let Some(l) = self.0.local.lock().get(id) {
            l.cancel.cancel();
            return Ok(());
        }
        let _: () = self
            .conn()
            .publish(format!("{}:cancel", self.0.prefix), id)
            .await
            .map_err(redis_err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(fields: &[(&str, &str)]) -> HashMap<String, String> {
        fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn registered() -> HashMap<String, String> {
        hash(&[
            ("owner", "u"),
            ("models", r#"["sim/a","sim/b"]"#),
            ("created_at_ms", "1700000000000"),
            ("metadata", ""),
            ("blind", "0"),
            ("status", "running"),
            ("last_seq", "7"),
            ("opened", "1"),
            ("instance", "i1"),
        ])
    }

    #[test]
    fn a_request_hash_decodes_field_by_field() {
        let info = decode_info("u", "r1", &registered()).unwrap();
        assert_eq!(info.status, RequestStatus::Running);
        assert_eq!(info.models, ["sim/a", "sim/b"]);
        assert_eq!(info.created_at_ms, 1_700_000_000_000);
        assert_eq!(info.metadata, None, "written as \"\" when there is none");
        assert!(!info.blind);
        assert_eq!(info.last_seq, 7);
        let mut h = registered();
        h.insert("metadata".into(), r#"{"k":1}"#.into());
        h.insert("blind".into(), "1".into());
        let info = decode_info("u", "r1", &h).unwrap();
        assert_eq!(info.metadata, Some(serde_json::json!({"k": 1})));
        assert!(info.blind);
    }

    #[test]
    fn a_corrupt_field_is_an_error_naming_it_never_a_default() {
        for (field, value) in [
            ("status", "runing"),
            ("status", ""),
            ("models", "sim/a"),
            ("created_at_ms", "-1"),
            ("metadata", "{"),
            ("blind", "yes"),
            ("last_seq", "x"),
        ] {
            let mut h = registered();
            h.insert(field.into(), value.into());
            let e = decode_info("u", "r1", &h).unwrap_err();
            assert_eq!(e.code(), ErrorCode::Internal, "{field}={value:?}");
            assert!(
                e.to_string().contains(&format!("corrupt `{field}`")),
                "{field}={value:?}: {e}"
            );
        }
        let mut h = registered();
        h.remove("last_seq");
        assert!(decode_info("u", "r1", &h).is_err(), "a missing field too");
    }
}
