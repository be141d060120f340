//! The [`RequestRegistry`] operations over Redis: register, publish, subscribe (replay from
//! the stream, then live through the hub), cancel, leases and expiry.

use super::*;

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
