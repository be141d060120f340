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

mod decode;
mod requests;
mod scripts;

use decode::*;
use scripts::*;

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
