//! SQLite's WAL checkpointer: a task of its own, and the rewind the writer runs between
//! batches.

use std::sync::Arc;

use sqlx::{AnyPool, AssertSqlSafe};

/// SQLite's WAL is checkpointed by a task of its own, every 200 ms, instead of by whichever
/// commit crosses the auto-checkpoint size: a checkpoint syncs the files, and inside the
/// group-commit writer that stalls every caller of the batch.
///
/// A PASSIVE checkpoint copies what it can and never waits, but it never makes the WAL start
/// over: the WAL is only rewound when a writer begins with every frame copied and no reader
/// on a WAL snapshot — and while the writer commits batch after batch, each checkpoint ends
/// with new frames behind it (the soak grew the WAL to 9 GB in 8 minutes; its index, `-shm`,
/// mapped into the server's memory, 16 MiB and rising). So once the WAL holds more than
/// [`WalLimits::restart_frames`], the group-commit writer itself, between two batches (no
/// write of its own can land meanwhile), runs a RESTART checkpoint — it copies only what came
/// after the task's pass, waits at most [`WalLimits::writer_wait`] for reads still on the WAL,
/// and the WAL starts over. No batch waits behind a lock for that (a RESTART from another
/// connection held the write lock while the writer's `BEGIN IMMEDIATE` slept in SQLite's busy
/// handler: ~40 ms at the p99 of `POST /v1/comparisons` at 2,000/s). If a reader outlasts the
/// wait, the writer tries again after a later batch, and past [`WalLimits::fallback_frames`]
/// the task does the RESTART itself, waiting (briefly) for such readers. The rewound file is cut back to 64 MiB
/// ([`WAL_SIZE_LIMIT`]).
#[derive(Debug)]
pub(super) struct Checkpoints(tokio::task::AbortHandle);

/// When the WAL is made to start over.
#[derive(Debug, Clone, Copy)]
pub(super) struct WalLimits {
    /// WAL frames (pages) past which the writer rewinds it: 16,384 pages, 64 MiB at SQLite's
    /// default 4 KiB page (256 MiB made each rewind longer).
    pub(super) restart_frames: i64,
    /// Past this the checkpoint task rewinds it with a RESTART, waiting for readers.
    pub(super) fallback_frames: i64,
    /// How often the checkpoint task runs: each checkpoint syncs the WAL and the database,
    /// and the writer's appends wait behind a long sync (a second's worth: 35–50 ms on a
    /// 2-vCPU guest, p99 POST at 2,000/s 12–18 ms; every 200 ms: 8–13 ms).
    pub(super) period: std::time::Duration,
    /// Least time between two of the writer's tries: a reader on old frames must not make it
    /// checkpoint (and sync) after every batch.
    pub(super) writer_retry: std::time::Duration,
    /// How long the writer's restart may wait for the last reads on the WAL (its connection's
    /// busy timeout, instead of the usual 5 s) — its next batch waits as long: reads take
    /// well under a millisecond, and SQLite's busy handler first sleeps 1 ms, then 2.
    pub(super) writer_wait: std::time::Duration,
    /// The same for the fallback RESTART, which holds every writer back while it waits; past
    /// it, it does what PASSIVE does and the next tick tries again.
    pub(super) fallback_wait: std::time::Duration,
}

impl Default for WalLimits {
    fn default() -> Self {
        Self {
            restart_frames: 16_384,
            fallback_frames: 4 * 16_384,
            period: std::time::Duration::from_millis(200),
            writer_retry: std::time::Duration::from_millis(100),
            writer_wait: std::time::Duration::from_millis(3),
            fallback_wait: std::time::Duration::from_millis(20),
        }
    }
}

/// What the checkpoint task and the group-commit writer share (SQLite).
#[derive(Debug)]
pub(super) struct WalRewind {
    /// Set by the task when the WAL is past the restart size; cleared by the writer once its
    /// RESTART went through.
    pub(super) wanted: std::sync::atomic::AtomicBool,
    /// When the writer may try next (ms since `epoch`).
    pub(super) next_try_ms: std::sync::atomic::AtomicU64,
    pub(super) retry_ms: u64,
    pub(super) wait: std::time::Duration,
    pub(super) epoch: std::time::Instant,
}

impl WalRewind {
    pub(super) fn new(limits: &WalLimits) -> Self {
        Self {
            wanted: false.into(),
            next_try_ms: 0.into(),
            retry_ms: limits.writer_retry.as_millis() as u64,
            wait: limits.writer_wait,
            epoch: std::time::Instant::now(),
        }
    }

    /// The writer's part, between two batches (see [`Checkpoints`]).
    pub(super) async fn between_batches(&self, pool: &AnyPool) {
        use std::sync::atomic::Ordering::Relaxed;
        if !self.wanted.load(Relaxed) {
            return;
        }
        let now = self.epoch.elapsed().as_millis() as u64;
        if now < self.next_try_ms.load(Relaxed) {
            return;
        }
        self.next_try_ms.store(now + self.retry_ms, Relaxed);
        match checkpoint(pool, Some(self.wait)).await {
            Ok((0, _, _)) => self.wanted.store(false, Relaxed),
            // A read that began before the copy ended is still on the WAL.
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(target: "llm_compare::store", error = %e, "WAL checkpoint failed");
            }
        }
    }
}

/// The usual busy timeout (every connection's; given back after a restart).
pub(super) const BUSY_TIMEOUT: &str = "PRAGMA busy_timeout = 5000";

/// What a rewound WAL file is cut back to: 64 MiB.
pub(super) const WAL_SIZE_LIMIT: &str = "PRAGMA journal_size_limit = 67108864";

impl Drop for Checkpoints {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Checkpoints {
    pub(super) fn start(pool: AnyPool, limits: WalLimits, rewind: Arc<WalRewind>) -> Self {
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(limits.period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                // PASSIVE: never waits for readers or the writer; what it cannot copy now,
                // the next one does. Its row: (busy, frames in the WAL, frames copied).
                match checkpoint(&pool, None).await {
                    Ok((_, frames, _)) if frames > limits.fallback_frames => {
                        if let Err(e) = checkpoint(&pool, Some(limits.fallback_wait)).await {
                            tracing::warn!(target: "llm_compare::store", error = %e, frames, "WAL restart failed");
                        }
                    }
                    Ok((_, frames, _)) => {
                        if frames > limits.restart_frames {
                            rewind
                                .wanted
                                .store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(target: "llm_compare::store", error = %e, "WAL checkpoint failed");
                    }
                }
            }
        });
        Self(task.abort_handle())
    }
}

/// A PASSIVE checkpoint, or a RESTART one waiting up to `restart_wait` for readers: (busy,
/// frames in the WAL, frames checkpointed).
pub(super) async fn checkpoint(
    pool: &AnyPool,
    restart_wait: Option<std::time::Duration>,
) -> std::result::Result<(i64, i64, i64), sqlx::Error> {
    const PASSIVE: &str = "PRAGMA wal_checkpoint(PASSIVE)";
    const RESTART: &str = "PRAGMA wal_checkpoint(RESTART)";
    let Some(wait) = restart_wait else {
        return sqlx::query_as(PASSIVE).fetch_one(pool).await;
    };
    // While a restart waits for readers it holds the write lock: every writer waits with it,
    // so it waits briefly, on a connection of its own.
    let mut conn = pool.acquire().await?;
    let wait = format!("PRAGMA busy_timeout = {}", wait.as_millis());
    sqlx::query(AssertSqlSafe(wait)).execute(&mut *conn).await?;
    let done = sqlx::query_as(RESTART).fetch_one(&mut *conn).await;
    if sqlx::query(BUSY_TIMEOUT).execute(&mut *conn).await.is_err() {
        // Never back in the pool with the short timeout.
        let _ = conn.detach();
    }
    done
}
