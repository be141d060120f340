//! Evaluation runs started through the service (`POST /v1/evals`): each runs in its own
//! task; its events are kept so any reader can read them from any point and then live
//! (`Last-Event-ID` resumes), until a while after the run ends; a run can be cancelled. What
//! outlives that (its rows and summary) is the store's: a run no longer live here is read
//! from there.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::EvalEvent;
use super::runs::{EvalRunInfo, EvalRunView, EvalStatus};

/// What a live run is: whose, which, of what, how, since when.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// Whose run it is.
    pub owner: String,
    /// Its id.
    pub id: String,
    /// The dataset's name.
    pub dataset: String,
    /// Its options.
    pub options: super::EvalOptions,
    /// Unix ms.
    pub created_at_ms: i64,
}

/// How long a finished run's events stay here for late readers, by default (a server keeps
/// them for its retention window; after it, a stream is replayed from the store).
pub const KEEP_FINISHED: Duration = Duration::from_secs(600);

/// The runs live in this process, by id.
pub struct LiveRuns {
    runs: Mutex<HashMap<String, Arc<LiveRun>>>,
    keep: Duration,
}

impl Default for LiveRuns {
    fn default() -> Self {
        Self::keeping(KEEP_FINISHED)
    }
}

/// One live run: its events so far, whether it ended, its cancel switch.
pub struct LiveRun {
    info: RunInfo,
    events: Mutex<Vec<EvalEvent>>,
    /// The number of events, bumped on every push (wakes readers).
    len: watch::Sender<usize>,
    finished: AtomicBool,
    cancel: CancellationToken,
}

impl std::fmt::Debug for LiveRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveRun")
            .field("info", &self.info)
            .field("events", &self.events.lock().len())
            .field("finished", &self.finished())
            .finish_non_exhaustive()
    }
}

impl LiveRun {
    /// Every event so far.
    pub fn events(&self) -> Vec<EvalEvent> {
        self.events.lock().clone()
    }

    /// Whether it ended (finished, failed or cancelled).
    pub fn finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    /// Whether it was cancelled.
    pub fn cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Where it stands.
    pub fn status(&self) -> EvalStatus {
        let events = self.events.lock();
        match events.last() {
            Some(EvalEvent::Summary(_)) => EvalStatus::Completed,
            Some(EvalEvent::Cancelled { .. }) => EvalStatus::Cancelled,
            _ if self.finished() => EvalStatus::Incomplete,
            _ => EvalStatus::Running,
        }
    }

    /// It and its rows (of this part of the run: without a store there is no other).
    pub fn view(&self) -> EvalRunView {
        let status = self.status();
        let events = self.events.lock();
        let (mut units, mut done, mut rows, mut summary) = (0, 0, Vec::new(), None);
        for e in events.iter() {
            match e {
                EvalEvent::Start {
                    units: u, done: d, ..
                } => (units, done) = (*u, *d),
                EvalEvent::Row(r) => rows.push(r.clone()),
                EvalEvent::Summary(s) => summary = Some(s.clone()),
                EvalEvent::Cancelled { .. } => {}
            }
        }
        EvalRunView {
            run: EvalRunInfo {
                run_id: self.info.id.clone(),
                status,
                dataset: self.info.dataset.clone(),
                options: self.info.options.clone(),
                units,
                rows_done: done + rows.len(),
                created_at_ms: self.info.created_at_ms,
                finished_at_ms: None,
                summary,
            },
            rows,
        }
    }

    fn push(&self, e: EvalEvent) {
        let n = {
            let mut events = self.events.lock();
            events.push(e);
            events.len()
        };
        self.len.send_replace(n);
    }

    fn finish(&self) {
        self.finished.store(true, Ordering::Release);
        self.len.send_modify(|_| {});
    }

    /// Its events after the first `after`, then live ones until it ends; each with its
    /// number (1-based: what `Last-Event-ID` takes).
    pub fn follow(self: Arc<Self>, after: usize) -> BoxStream<'static, (usize, EvalEvent)> {
        let rx = self.len.subscribe();
        futures::stream::unfold((self, after, rx), |(run, i, mut rx)| async move {
            loop {
                let next = run.events.lock().get(i).cloned();
                if let Some(e) = next {
                    return Some(((i + 1, e), (run, i + 1, rx)));
                }
                // Checked after the events: the last push happens before `finish`.
                if run.finished() {
                    return None;
                }
                if rx.changed().await.is_err() {
                    return None;
                }
            }
        })
        .boxed()
    }
}

impl std::fmt::Debug for LiveRuns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveRuns")
            .field("runs", &self.runs.lock().len())
            .finish()
    }
}

impl LiveRuns {
    /// Runs whose events stay here for `keep` once they end.
    pub fn keeping(keep: Duration) -> Self {
        Self {
            runs: Mutex::new(HashMap::new()),
            keep,
        }
    }

    /// Run `id` of `owner`, when it is live here.
    pub fn get(&self, owner: &str, id: &str) -> Option<Arc<LiveRun>> {
        self.runs
            .lock()
            .get(id)
            .filter(|r| r.info.owner == owner)
            .cloned()
    }

    /// `owner`'s live runs.
    pub fn of(&self, owner: &str) -> Vec<(String, Arc<LiveRun>)> {
        self.runs
            .lock()
            .iter()
            .filter(|(_, r)| r.info.owner == owner)
            .map(|(id, r)| (id.clone(), r.clone()))
            .collect()
    }

    /// How many of `owner`'s runs are running here.
    pub fn running_of(&self, owner: &str) -> usize {
        self.runs
            .lock()
            .values()
            .filter(|r| r.info.owner == owner && !r.finished())
            .count()
    }

    /// Runs `events` (its first event already read: `start`, of run `id`) in a task of its
    /// own; a cancel ends it with [`EvalEvent::Cancelled`] (dropping the rows in flight
    /// cancels their comparisons).
    pub fn spawn(
        self: &Arc<Self>,
        info: RunInfo,
        start: EvalEvent,
        mut events: BoxStream<'static, EvalEvent>,
    ) -> Arc<LiveRun> {
        let (len, _) = watch::channel(0);
        let id = info.id.clone();
        let run = Arc::new(LiveRun {
            info,
            events: Mutex::new(Vec::new()),
            len,
            finished: AtomicBool::new(false),
            cancel: CancellationToken::new(),
        });
        run.push(start);
        self.runs.lock().insert(id.clone(), run.clone());
        let (all, this) = (Arc::downgrade(self), run.clone());
        let keep = self.keep;
        tokio::spawn(async move {
            let mut rows = 0;
            loop {
                tokio::select! {
                    biased;
                    () = this.cancel.cancelled() => {
                        this.push(EvalEvent::Cancelled { run_id: id.clone(), rows_done: rows });
                        break;
                    }
                    next = events.next() => match next {
                        Some(e) => {
                            if matches!(e, EvalEvent::Row(_)) {
                                rows += 1;
                            }
                            this.push(e);
                        }
                        None => break,
                    },
                }
            }
            drop(events);
            this.finish();
            tokio::time::sleep(keep).await;
            if let Some(all) = all.upgrade() {
                // Unless the run was resumed since: then the entry is the new part's.
                let mut runs = all.runs.lock();
                if runs.get(&id).is_some_and(|r| Arc::ptr_eq(r, &this)) {
                    runs.remove(&id);
                }
            }
        });
        run
    }

    /// Cancels run `id` of `owner`; whether it was live here (and not yet ended).
    pub fn cancel(&self, owner: &str, id: &str) -> Option<bool> {
        let run = self.get(owner, id)?;
        let was_running = !run.finished();
        run.cancel.cancel();
        Some(was_running)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: &str) -> RunInfo {
        RunInfo {
            owner: "u".into(),
            id: id.into(),
            dataset: "d.jsonl".into(),
            options: crate::eval::EvalOptions {
                models: vec!["sim/echo".into()],
                judge: None,
                concurrency: None,
                repeat: None,
                allow_self_judge: false,
            },
            created_at_ms: 0,
        }
    }

    fn start(id: &str) -> EvalEvent {
        EvalEvent::Start {
            run_id: id.into(),
            units: 2,
            done: 0,
        }
    }

    #[tokio::test]
    async fn readers_get_every_event_from_any_point_then_live_ones() {
        let runs = Arc::new(LiveRuns::default());
        let (tx, rx) = futures::channel::mpsc::unbounded::<EvalEvent>();
        let run = runs.spawn(info("r1"), start("r1"), rx.boxed());
        let early = run.clone().follow(0);
        tx.unbounded_send(EvalEvent::Cancelled {
            run_id: "x".into(),
            rows_done: 7,
        })
        .unwrap();
        drop(tx);
        let all: Vec<_> = early.collect().await;
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].0, 1);
        assert!(matches!(
            all[1],
            (2, EvalEvent::Cancelled { rows_done: 7, .. })
        ));
        // A late reader after the first event gets the rest, and the stream ends.
        let late: Vec<_> = run.clone().follow(1).collect().await;
        assert_eq!(late.len(), 1);
        assert!(run.finished());
        assert!(runs.get("someone else", "r1").is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_finished_run_is_forgotten_after_a_while_but_not_its_resumed_part() {
        let runs = Arc::new(LiveRuns::default());
        let first = runs.spawn(info("r3"), start("r3"), futures::stream::empty().boxed());
        let _ = first.clone().follow(0).collect::<Vec<_>>().await;
        // Resumed at once: a new part under the same id.
        let second = runs.spawn(info("r3"), start("r3"), futures::stream::pending().boxed());
        tokio::time::sleep(KEEP_FINISHED + Duration::from_secs(1)).await;
        let live = runs.get("u", "r3").expect("the resumed part stays");
        assert!(Arc::ptr_eq(&live, &second));
        let gone = Arc::new(LiveRuns::default());
        let run = gone.spawn(info("r4"), start("r4"), futures::stream::empty().boxed());
        let _ = run.follow(0).collect::<Vec<_>>().await;
        tokio::time::sleep(KEEP_FINISHED + Duration::from_secs(1)).await;
        assert!(gone.get("u", "r4").is_none());
    }

    #[tokio::test]
    async fn a_cancel_ends_the_run_with_how_many_rows_it_finished() {
        let runs = Arc::new(LiveRuns::default());
        let (_tx, rx) = futures::channel::mpsc::unbounded::<EvalEvent>();
        let run = runs.spawn(info("r2"), start("r2"), rx.boxed());
        assert_eq!(runs.cancel("u", "r2"), Some(true));
        let all: Vec<_> = run.clone().follow(0).collect().await;
        assert!(matches!(
            all.last(),
            Some((2, EvalEvent::Cancelled { rows_done: 0, .. }))
        ));
        assert!(run.cancelled());
        assert_eq!(run.status(), EvalStatus::Cancelled);
        assert_eq!(run.view().run.units, 2);
        assert_eq!(runs.cancel("u", "r2"), Some(false));
        assert_eq!(runs.cancel("u", "nope"), None);
    }
}
