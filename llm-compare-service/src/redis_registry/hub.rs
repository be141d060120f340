//! This server's stream subscribers, by request, fed without a Redis connection each: the
//! requests this server runs feed theirs from `publish` (in process), the others from the
//! one pub/sub connection (`{prefix}:ev:{id}` channels, subscribed while someone here reads).
//! A subscriber follows its request by [`Follow`]: live events in order, and a read of the
//! stream's log in Redis whenever it may have missed one (it started, a gap, a lagging
//! channel, a quiet while) — so a lost pub/sub message delays an event, never drops it.

use std::collections::HashMap;
use std::sync::Arc;

use llm_compare_core::{Event, EventKind};
use parking_lot::Mutex;
use tokio::sync::broadcast;

/// Batches of events a slow reader may fall behind before it reads the log instead.
const CHANNEL: usize = 64;

/// A batch of events, shared by every reader.
pub(crate) type Batch = Arc<[Event]>;

struct Topic {
    tx: broadcast::Sender<Batch>,
    readers: usize,
    /// Its pub/sub channel is subscribed (a request running on another server).
    listening: bool,
}

/// The requests that have readers here.
#[derive(Default)]
pub(crate) struct Hub {
    topics: Mutex<HashMap<String, Topic>>,
}

/// What joining a request's readers asks of the caller.
#[derive(Debug)]
pub(crate) struct Joined {
    /// Its live events.
    pub rx: broadcast::Receiver<Batch>,
    /// Subscribe its pub/sub channel: it runs elsewhere and nobody here listens yet.
    pub listen: bool,
}

impl Hub {
    /// Adds a reader of request `id` (`remote`: it runs on another server).
    pub fn join(&self, id: &str, remote: bool) -> Joined {
        let mut topics = self.topics.lock();
        let topic = topics.entry(id.to_string()).or_insert_with(|| Topic {
            tx: broadcast::channel(CHANNEL).0,
            readers: 0,
            listening: false,
        });
        topic.readers += 1;
        let listen = remote && !topic.listening;
        topic.listening |= listen;
        Joined {
            rx: topic.tx.subscribe(),
            listen,
        }
    }

    /// Removes a reader of `id`; whether its channel is now to be unsubscribed (the last
    /// reader of a request listened to).
    pub fn leave(&self, id: &str) -> bool {
        let mut topics = self.topics.lock();
        let Some(topic) = topics.get_mut(id) else {
            return false;
        };
        topic.readers = topic.readers.saturating_sub(1);
        if topic.readers > 0 {
            return false;
        }
        let listening = topic.listening;
        topics.remove(id);
        listening
    }

    /// Whether `id` has readers that listen to its channel (an unsubscribe still wanted).
    pub fn listening(&self, id: &str) -> bool {
        self.topics.lock().get(id).is_some_and(|t| t.listening)
    }

    /// The requests listened to (to subscribe again on a new pub/sub connection).
    pub fn listened(&self) -> Vec<String> {
        self.topics
            .lock()
            .iter()
            .filter(|(_, t)| t.listening)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Hands `events` of `id` to its readers here, if it has any (built only then).
    pub fn deliver(&self, id: &str, events: impl FnOnce() -> Option<Batch>) {
        let topics = self.topics.lock();
        if let Some(topic) = topics.get(id)
            && let Some(batch) = events()
        {
            // No receiver left is not an error: the last reader is leaving.
            let _ = topic.tx.send(batch);
        }
    }

    /// Readers here, in all.
    pub fn readers(&self) -> usize {
        self.topics.lock().values().map(|t| t.readers).sum()
    }
}

/// Where a subscriber stands: the last `seq` it was given. Plain logic, no I/O.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Follow {
    last: u64,
    done: bool,
}

/// What to do with a live batch.
#[derive(Debug, PartialEq)]
pub(crate) enum Step {
    /// Give these events (the ones past `last`, in order, up to `complete`).
    Give(Vec<Event>),
    /// Events are missing before this batch: read the log from `last`, then go on.
    CatchUp(Vec<Event>),
}

impl Follow {
    /// A subscriber that has seen every event up to `after_seq`.
    pub fn after(after_seq: u64) -> Self {
        Self {
            last: after_seq,
            done: false,
        }
    }

    /// The last `seq` given.
    pub fn last(&self) -> u64 {
        self.last
    }

    /// Whether `complete` was given: the stream is over.
    pub fn done(&self) -> bool {
        self.done
    }

    /// Of `events` (from the log or live), those to give now: past `last`, without a gap.
    /// A gap stops there and asks for the log.
    pub fn take(&mut self, events: &[Event]) -> Step {
        let mut out = Vec::new();
        for e in events {
            if self.done {
                break;
            }
            if e.seq <= self.last {
                continue;
            }
            if e.seq != self.last + 1 {
                return Step::CatchUp(out);
            }
            self.last = e.seq;
            self.done = matches!(e.kind, EventKind::Complete(_));
            out.push(e.clone());
        }
        Step::Give(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use llm_compare_core::registry::numbered;
    use llm_compare_core::{Complete, RequestStatus, Totals};

    fn events(after: u64, n: usize) -> Vec<Event> {
        numbered(
            after,
            (0..n)
                .map(|_| EventKind::Status {
                    status: RequestStatus::Running,
                })
                .collect(),
        )
    }

    #[test]
    fn a_follower_gives_each_event_once_in_order_and_asks_for_the_log_at_a_gap() {
        let mut f = Follow::after(2);
        // The log from 1: what it had seen is skipped.
        let Step::Give(given) = f.take(&events(0, 5)) else {
            panic!("no gap")
        };
        assert_eq!(given.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4, 5]);
        // A live batch that overlaps what the log gave.
        let Step::Give(given) = f.take(&events(3, 4)) else {
            panic!("no gap")
        };
        assert_eq!(given.iter().map(|e| e.seq).collect::<Vec<_>>(), [6, 7]);
        // A batch after a lost one: nothing past the gap is given.
        assert_eq!(f.take(&events(9, 2)), Step::CatchUp(Vec::new()));
        assert_eq!(f.last(), 7);
        // The end.
        let complete = numbered(
            7,
            vec![EventKind::Complete(Complete {
                request_id: "r".into(),
                status: RequestStatus::Completed,
                totals: Totals::of(&[]),
                results: Vec::new(),
                duration_ms: 1.0,
            })],
        );
        let Step::Give(given) = f.take(&complete) else {
            panic!("no gap")
        };
        assert_eq!(given.len(), 1);
        assert!(f.done());
        assert_eq!(f.take(&events(8, 3)), Step::Give(Vec::new()));
    }

    #[test]
    fn a_request_is_listened_to_while_it_has_readers_and_only_once() {
        let hub = Hub::default();
        let a = hub.join("r1", true);
        assert!(a.listen);
        let mut b = hub.join("r1", true);
        assert!(!b.listen, "one subscription per server, not per reader");
        let local = hub.join("r2", false);
        assert!(!local.listen);
        assert_eq!(hub.readers(), 3);
        assert_eq!(hub.listened(), ["r1".to_string()]);
        hub.deliver("r1", || Some(Arc::from(events(0, 2))));
        assert_eq!(b.rx.try_recv().unwrap().len(), 2);
        // Nothing is built for a request nobody here reads.
        hub.deliver("r3", || panic!("built for no reader"));
        assert!(!hub.leave("r1"));
        assert!(hub.leave("r1"), "the last reader unsubscribes");
        assert!(!hub.listening("r1"));
        assert!(!hub.leave("r2"));
        assert_eq!(hub.readers(), 0);
    }
}
