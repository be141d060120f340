//! Group commit: the comparison writes (creates, partial text, results, ends) of every caller
//! go to a writer task, which makes what is pending in one transaction and answers each caller
//! once that transaction has committed — so the durability contract is unchanged (a caller's
//! write is on disk when its call returns) while one commit serves a whole burst instead of
//! one each. With nothing pending, a write goes alone at once: no timer, no added wait.
//!
//! SQLite has one writer at a time, so it gets one writer task (and never contends with
//! itself on the database lock). PostgreSQL runs transactions side by side: its writes are
//! spread over a few writer tasks by comparison id, so one comparison's writes keep their
//! order. A batch the database refuses for a reason of its own (a budget refusal, a deadlock)
//! is made again job by job, each in its own transaction, so one bad write fails alone.

use std::hash::{Hash, Hasher};

use llm_compare_core::{Error, ErrorCode, Result};
use tokio::sync::{mpsc, oneshot};

use crate::Write;

/// Most jobs in one transaction.
const MAX_JOBS: usize = 256;
/// Jobs waiting per writer before callers wait to hand theirs over.
const QUEUE: usize = 8192;

/// What a caller hands a writer.
#[derive(Debug)]
pub(crate) enum Op {
    /// Writes made together (all or none), in order.
    Writes(Vec<Write>),
    /// A model's text so far (skipped once its result is saved).
    Progress {
        id: String,
        model_index: usize,
        text: String,
    },
}

impl Op {
    fn comparison_id(&self) -> &str {
        match self {
            Op::Writes(w) => w.first().map_or("", Write::comparison_id),
            Op::Progress { id, .. } => id,
        }
    }
}

#[derive(Debug)]
struct Job {
    op: Op,
    done: oneshot::Sender<Result<()>>,
}

/// Makes a batch of operations in one transaction.
pub(crate) trait Apply: Clone + Send + Sync + 'static {
    /// Makes `ops` in order in one transaction; an error undoes all of them.
    fn apply(&self, ops: &[&Op]) -> impl std::future::Future<Output = Result<()>> + Send;

    /// Upkeep that must not overlap a transaction of this writer's (SQLite: rewinding the
    /// WAL), run after each batch once its callers have their answers.
    fn between(&self) -> impl std::future::Future<Output = ()> + Send {
        async {}
    }
}

/// The writer tasks of one store.
#[derive(Debug, Clone)]
pub(crate) struct GroupCommit {
    writers: Vec<mpsc::Sender<Job>>,
}

impl GroupCommit {
    /// Starts `writers` writer tasks (at least one) over `db`. Call inside a tokio runtime.
    pub(crate) fn start<A: Apply>(db: A, writers: usize) -> Self {
        let writers = (0..writers.max(1))
            .map(|_| {
                let (tx, rx) = mpsc::channel(QUEUE);
                tokio::spawn(write(db.clone(), rx));
                tx
            })
            .collect();
        Self { writers }
    }

    /// Hands `op` to its writer and waits until its transaction has committed.
    pub(crate) async fn run(&self, op: Op) -> Result<()> {
        let shard = if self.writers.len() == 1 {
            0
        } else {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            op.comparison_id().hash(&mut h);
            (h.finish() % self.writers.len() as u64) as usize
        };
        let (done, answer) = oneshot::channel();
        let gone = || Error::unavailable("the store's writer has stopped");
        self.writers[shard]
            .send(Job { op, done })
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// One writer: takes what is pending (up to [`MAX_JOBS`]), makes it in one transaction and
/// answers every caller; ends when the store is dropped.
async fn write<A: Apply>(db: A, mut rx: mpsc::Receiver<Job>) {
    let mut jobs: Vec<Job> = Vec::with_capacity(MAX_JOBS);
    while rx.recv_many(&mut jobs, MAX_JOBS).await > 0 {
        let ops: Vec<&Op> = jobs.iter().map(|j| &j.op).collect();
        metrics::histogram!("llm_compare_store_batch_jobs").record(ops.len() as f64);
        let started = std::time::Instant::now();
        let result = db.apply(&ops).await;
        metrics::histogram!("llm_compare_store_batch_seconds").record(started.elapsed());
        match result {
            Ok(()) => {
                for j in jobs.drain(..) {
                    let _ = j.done.send(Ok(()));
                }
            }
            // Unreachable: every caller hears it (and keeps its write for later) — also those
            // that queued while this transaction failed: theirs would fail the same way, after
            // waiting as long again (a POST must hear 503 within the acquire timeout).
            Err(e) if e.code() == ErrorCode::Unavailable => {
                for j in jobs.drain(..) {
                    let _ = j.done.send(Err(e.clone()));
                }
                while let Ok(j) = rx.try_recv() {
                    let _ = j.done.send(Err(e.clone()));
                }
            }
            Err(e) if jobs.len() == 1 => {
                for j in jobs.drain(..) {
                    let _ = j.done.send(Err(e.clone()));
                }
            }
            // Refused: one job at a time, so the others still go through.
            Err(_) => {
                for j in jobs.drain(..) {
                    let r = db.apply(&[&j.op]).await;
                    let _ = j.done.send(r);
                }
            }
        }
        db.between().await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use std::sync::Mutex;

    use super::*;

    /// Records each transaction's comparison ids; refuses any batch holding `bad`.
    #[derive(Clone)]
    struct Log {
        batches: Arc<Mutex<Vec<Vec<String>>>>,
        gate: Arc<tokio::sync::Semaphore>,
    }

    impl Default for Log {
        fn default() -> Self {
            Self {
                batches: Arc::default(),
                gate: Arc::new(tokio::sync::Semaphore::new(0)),
            }
        }
    }

    impl Apply for Log {
        async fn apply(&self, ops: &[&Op]) -> Result<()> {
            let ids: Vec<String> = ops.iter().map(|o| o.comparison_id().to_string()).collect();
            self.batches.lock().unwrap().push(ids.clone());
            let _permit = self.gate.acquire().await;
            if ids.iter().any(|i| i == "bad") {
                return Err(Error::Internal("refused".into()));
            }
            if ids.iter().any(|i| i == "down") {
                return Err(Error::unavailable("down"));
            }
            Ok(())
        }
    }

    fn progress(id: &str) -> Op {
        Op::Progress {
            id: id.into(),
            model_index: 0,
            text: String::new(),
        }
    }

    /// Runs a write for `first`, and while its transaction is held open, one for each of
    /// `rest`; opens the gate and returns the first's answer and each of `rest` with its own.
    async fn behind_one(
        log: &Log,
        first: &str,
        rest: &[&'static str],
    ) -> (Result<()>, Vec<(&'static str, Result<()>)>) {
        let gc = GroupCommit::start(log.clone(), 1);
        let head = tokio::spawn({
            let (gc, first) = (gc.clone(), first.to_string());
            async move { gc.run(progress(&first)).await }
        });
        // The first write takes the writer; the gate holds its transaction open.
        while log.batches.lock().unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
        let waiting: Vec<_> = rest
            .iter()
            .map(|&id| {
                let gc = gc.clone();
                (id, tokio::spawn(async move { gc.run(progress(id)).await }))
            })
            .collect();
        // Let every caller queue its job, then open the gate.
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        log.gate.add_permits(1000);
        let head = head.await.unwrap();
        let mut out = Vec::new();
        for (id, t) in waiting {
            out.push((id, t.await.unwrap()));
        }
        (head, out)
    }

    #[tokio::test]
    async fn what_waits_while_a_transaction_runs_goes_in_the_next_one() {
        let log = Log::default();
        let (head, rest) = behind_one(&log, "a", &["b", "c", "d"]).await;
        head.unwrap();
        for (id, r) in rest {
            assert!(r.is_ok(), "{id}: {r:?}");
        }
        let batches = log.batches.lock().unwrap().clone();
        assert_eq!(batches, vec![vec!["a"], vec!["b", "c", "d"]]);
    }

    #[tokio::test]
    async fn a_refused_batch_is_made_again_job_by_job_and_only_the_bad_one_fails() {
        let log = Log::default();
        let (head, rest) = behind_one(&log, "a", &["b", "bad", "c"]).await;
        head.unwrap();
        for (id, r) in rest {
            assert_eq!(r.is_err(), id == "bad", "{id}: {r:?}");
        }
        let batches = log.batches.lock().unwrap().clone();
        assert_eq!(
            batches,
            vec![
                vec!["a"],
                vec!["b", "bad", "c"],
                vec!["b"],
                vec!["bad"],
                vec!["c"]
            ]
        );
    }

    #[tokio::test]
    async fn what_queued_behind_a_failing_transaction_hears_unavailable_without_waiting_again() {
        let log = Log::default();
        let (head, rest) = behind_one(&log, "down", &["a", "b"]).await;
        assert!(head.is_err());
        for (id, r) in rest {
            assert_eq!(r.map_err(|e| e.code()), Err(ErrorCode::Unavailable), "{id}");
        }
        // Only the failing transaction was tried.
        assert_eq!(*log.batches.lock().unwrap(), vec![vec!["down"]]);
    }

    #[tokio::test]
    async fn an_unreachable_database_is_every_callers_answer() {
        let log = Log::default();
        log.gate.add_permits(1000);
        let gc = GroupCommit::start(log.clone(), 1);
        let e = gc.run(progress("down")).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::Unavailable);
        gc.run(progress("a")).await.unwrap();
    }
}
