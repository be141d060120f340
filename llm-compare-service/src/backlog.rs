//! Writes the store could not take yet: while the database is unreachable, results and ends
//! of comparisons (and chat completions' records) wait here, in order, and are written once it
//! answers again. A write older than the window is given up — reported, with its comparison
//! id, never dropped silently. Plain state; [`crate::persist`] runs it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub use crate::Write;

/// Writes waiting for the store, oldest first.
#[derive(Debug)]
pub struct Backlog {
    items: VecDeque<(Instant, Write)>,
    window: Duration,
}

impl Backlog {
    /// A backlog that gives a write up after `window`.
    pub fn new(window: Duration) -> Self {
        Self {
            items: VecDeque::new(),
            window,
        }
    }

    /// Writes waiting.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing waits: a new write may go straight to the store (it would otherwise
    /// overtake the writes of the same comparison that wait).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Queues `write`, made at `now`.
    pub fn push(&mut self, write: Write, now: Instant) {
        self.items.push_back((now, write));
    }

    /// The oldest write, to try next.
    pub fn front(&self) -> Option<&Write> {
        self.items.front().map(|(_, w)| w)
    }

    /// The oldest write is done (written, or failed for good).
    pub fn pop(&mut self) -> Option<Write> {
        self.items.pop_front().map(|(_, w)| w)
    }

    /// Removes and returns the writes older than the window at `now`: they are given up.
    pub fn expire(&mut self, now: Instant) -> Vec<Write> {
        let mut gone = Vec::new();
        while let Some((at, _)) = self.items.front() {
            if now.duration_since(*at) < self.window {
                break;
            }
            if let Some((_, w)) = self.items.pop_front() {
                gone.push(w);
            }
        }
        gone
    }
}

/// The wait before the next try after `failures` failed tries in a row: 100 ms doubling to
/// 2 s.
pub fn backoff(failures: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << failures.min(5))).min(Duration::from_secs(2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NewComparison;
    use llm_compare_core::Complete;

    fn finish(id: &str) -> Write {
        Write::Finish {
            id: id.into(),
            complete: Box::new(Complete {
                request_id: id.into(),
                status: llm_compare_core::RequestStatus::Completed,
                results: vec![],
                totals: llm_compare_core::Totals::default(),
                duration_ms: 1.0,
            }),
        }
    }

    #[test]
    fn writes_leave_in_order_and_expire_after_the_window() {
        let t0 = Instant::now();
        let mut b = Backlog::new(Duration::from_secs(10));
        assert!(b.is_empty());
        b.push(
            Write::Create(Box::new(NewComparison {
                id: "a".into(),
                ..NewComparison::default()
            })),
            t0,
        );
        b.push(finish("a"), t0 + Duration::from_secs(4));
        b.push(finish("b"), t0 + Duration::from_secs(8));
        assert_eq!(b.len(), 3);
        assert_eq!(b.front().map(Write::comparison_id), Some("a"));
        assert!(b.expire(t0 + Duration::from_secs(9)).is_empty());
        // At 12 s the first two are older than 10 s: given up, oldest first.
        let gone = b.expire(t0 + Duration::from_secs(14));
        assert_eq!(gone.len(), 2);
        assert!(matches!(gone[0], Write::Create(_)));
        assert_eq!(gone[1], finish("a"));
        assert_eq!(b.pop(), Some(finish("b")));
        assert!(b.is_empty() && b.pop().is_none());
    }

    #[test]
    fn backoff_doubles_to_two_seconds() {
        let waits: Vec<u64> = (0..8).map(|n| backoff(n).as_millis() as u64).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 2000, 2000, 2000]);
    }
}
