//! A request's event log as the in-memory registry holds it: a plain vector while the request
//! runs; once it has finished (and is only kept for late readers through the retention
//! window), compacted. An event is 160 bytes whatever it carries, a `response_chunk` then has
//! its own allocation for a few bytes of text, and a vector grown by doubling leaves up to
//! half its capacity unused: a finished 2-model comparison of 40-token answers (58 events)
//! held ~14 KiB. The compact form keeps each model's streamed text once with 8 bytes per
//! chunk (its seq and where it ends in the text), and the other events as they were (~5 KiB
//! for that comparison); reading it gives back exactly the events published.

use std::sync::Arc;

use crate::types::event::{Event, EventKind};

/// The events of one request, in `seq` order.
#[derive(Debug)]
pub(crate) enum EventLog {
    /// As published.
    Live(Vec<Event>),
    /// Finished and compacted.
    Done(Compact),
}

impl Default for EventLog {
    fn default() -> Self {
        Self::Live(Vec::new())
    }
}

/// A finished request's events, held small.
#[derive(Debug)]
pub(crate) struct Compact {
    /// Every event but the chunks kept in `texts`.
    others: Box<[Event]>,
    /// Per model that streamed text: what it streamed and where each chunk was.
    texts: Box<[Chunks]>,
    last_seq: u64,
}

/// One model's `response_chunk`s: the text they carried, each chunk's seq and end offset.
#[derive(Debug)]
struct Chunks {
    model_index: usize,
    model: Arc<str>,
    text: Box<str>,
    /// `(seq, end)`: chunk `k` is `text[end[k-1]..end]`.
    at: Box<[(u32, u32)]>,
}

impl EventLog {
    /// Appends `events` (a running request's).
    pub(crate) fn extend(&mut self, events: Vec<Event>) {
        match self {
            Self::Live(v) => v.extend(events),
            // A finished request takes no more events; keep them readable all the same.
            Self::Done(c) => {
                let mut all = c.after(0);
                all.extend(events);
                *self = Self::Live(all);
            }
        }
    }

    /// The seq of the last event (0 before the first).
    pub(crate) fn last_seq(&self) -> u64 {
        match self {
            Self::Live(v) => v.last().map_or(0, |e| e.seq),
            Self::Done(c) => c.last_seq,
        }
    }

    /// The events with `seq > after`, in order.
    pub(crate) fn after(&self, after: u64) -> Vec<Event> {
        match self {
            Self::Live(v) => {
                let from = v.partition_point(|e| e.seq <= after);
                v[from..].to_vec()
            }
            Self::Done(c) => c.after(after),
        }
    }

    /// The memory the log holds (estimated: inline sizes, texts, results).
    pub(crate) fn approx_bytes(&self) -> usize {
        let event = std::mem::size_of::<Event>();
        match self {
            Self::Live(v) => {
                v.capacity() * event + v.iter().map(|e| heap_bytes(&e.kind)).sum::<usize>()
            }
            Self::Done(c) => {
                c.others.len() * event
                    + c.others.iter().map(|e| heap_bytes(&e.kind)).sum::<usize>()
                    + c.texts
                        .iter()
                        .map(|t| std::mem::size_of::<Chunks>() + t.text.len() + t.at.len() * 8)
                        .sum::<usize>()
            }
        }
    }

    /// Compacts the log (the request has finished).
    pub(crate) fn compact(&mut self) {
        if let Self::Live(v) = self {
            match Compact::of(std::mem::take(v)) {
                Ok(c) => *self = Self::Done(c),
                Err(mut events) => {
                    events.shrink_to_fit();
                    *v = events;
                }
            }
        }
    }
}

/// What an event holds outside itself, roughly: the texts and results it carries (a model
/// result's, or every result of `complete`).
fn heap_bytes(kind: &EventKind) -> usize {
    let result = |r: &crate::types::event::ModelResult| {
        std::mem::size_of::<crate::types::event::ModelResult>()
            + r.text.len()
            + r.reasoning.len()
            + r.tool_calls
                .iter()
                .map(|c| c.arguments.len() + 64)
                .sum::<usize>()
            + r.exchange.len() * 256
    };
    match kind {
        EventKind::ResponseChunk { delta, .. } => delta.len() + 16,
        EventKind::ModelResult(r) => result(r),
        EventKind::Complete(c) => c.request_id.len() + c.results.iter().map(result).sum::<usize>(),
        _ => 32,
    }
}

impl Compact {
    /// `events` compacted; given back when they do not fit the form (a seq or a text beyond
    /// `u32`, one index under two model ids), which a real request never reaches.
    fn of(events: Vec<Event>) -> Result<Self, Vec<Event>> {
        match Self::texts(&events) {
            Some(texts) => Ok(Self {
                last_seq: events.last().map_or(0, |e| e.seq),
                others: events
                    .into_iter()
                    .filter(|e| !matches!(e.kind, EventKind::ResponseChunk { .. }))
                    .collect(),
                texts,
            }),
            None => Err(events),
        }
    }

    /// The chunks of `events`, model by model.
    fn texts(events: &[Event]) -> Option<Box<[Chunks]>> {
        /// One model's chunks while they are gathered.
        struct Growing<'a> {
            model_index: usize,
            model: &'a Arc<str>,
            text: String,
            at: Vec<(u32, u32)>,
        }
        let mut texts: Vec<Growing<'_>> = Vec::new();
        for e in events {
            let EventKind::ResponseChunk {
                model_index,
                model,
                delta,
            } = &e.kind
            else {
                continue;
            };
            let seq = u32::try_from(e.seq).ok()?;
            let slot = match texts.iter().position(|t| t.model_index == *model_index) {
                // Chunks of one index under another model id cannot share its text.
                Some(i) if *texts[i].model == *model => i,
                Some(_) => return None,
                None => {
                    texts.push(Growing {
                        model_index: *model_index,
                        model,
                        text: String::new(),
                        at: Vec::new(),
                    });
                    texts.len() - 1
                }
            };
            let t = &mut texts[slot];
            t.text.push_str(delta);
            t.at.push((seq, u32::try_from(t.text.len()).ok()?));
        }
        Some(
            texts
                .into_iter()
                .map(|t| Chunks {
                    model_index: t.model_index,
                    model: t.model.clone(),
                    text: t.text.into_boxed_str(),
                    at: t.at.into_boxed_slice(),
                })
                .collect(),
        )
    }

    fn after(&self, after: u64) -> Vec<Event> {
        let from = self.others.partition_point(|e| e.seq <= after);
        let mut out: Vec<Event> = self.others[from..].to_vec();
        for c in &*self.texts {
            let first = c.at.partition_point(|(seq, _)| u64::from(*seq) <= after);
            let mut start = first.checked_sub(1).map_or(0, |k| c.at[k].1 as usize);
            for &(seq, end) in &c.at[first..] {
                let end = end as usize;
                out.push(Event {
                    seq: u64::from(seq),
                    kind: EventKind::ResponseChunk {
                        model_index: c.model_index,
                        model: c.model.clone(),
                        delta: c.text.get(start..end).unwrap_or_default().to_string(),
                    },
                });
                start = end;
            }
        }
        out.sort_unstable_by_key(|e| e.seq);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::event::{RequestStatus, Stage};

    fn chunk(seq: u64, model_index: usize, delta: &str) -> Event {
        Event {
            seq,
            kind: EventKind::ResponseChunk {
                model_index,
                model: Arc::from(format!("sim/m{model_index}")),
                delta: delta.into(),
            },
        }
    }

    fn log() -> Vec<Event> {
        let mut v = vec![Event {
            seq: 1,
            kind: EventKind::Status {
                status: RequestStatus::Running,
            },
        }];
        // Two models' chunks interleaved, one of them empty, one multi-byte.
        for (k, (m, d)) in [
            (0, "Hel"),
            (1, "Wé"),
            (0, "lo"),
            (1, ""),
            (1, "lt"),
            (0, " you"),
        ]
        .into_iter()
        .enumerate()
        {
            v.push(chunk(k as u64 + 2, m, d));
        }
        v.push(Event {
            seq: 8,
            kind: EventKind::Stage {
                model_index: 0,
                model: Arc::from("sim/m0"),
                stage: Stage::Done,
            },
        });
        v.push(chunk(9, 1, "!"));
        v
    }

    #[test]
    fn a_compacted_log_reads_back_exactly_from_any_point() {
        let events = log();
        let mut l = EventLog::Live(events.clone());
        l.compact();
        assert!(matches!(l, EventLog::Done(_)));
        assert_eq!(l.last_seq(), 9);
        for after in 0..=10 {
            let want: Vec<Event> = events.iter().filter(|e| e.seq > after).cloned().collect();
            assert_eq!(l.after(after), want, "after {after}");
        }
    }

    #[test]
    fn an_event_after_compaction_is_kept_with_the_rest() {
        let mut l = EventLog::Live(log());
        l.compact();
        l.extend(vec![chunk(10, 0, "late")]);
        let all = l.after(0);
        assert_eq!(all.len(), 10);
        assert_eq!(all[9], chunk(10, 0, "late"));
    }

    #[test]
    fn one_index_under_two_model_ids_stays_as_published() {
        let events = vec![chunk(1, 0, "a"), {
            let mut e = chunk(2, 0, "b");
            if let EventKind::ResponseChunk { model, .. } = &mut e.kind {
                *model = Arc::from("other");
            }
            e
        }];
        let mut l = EventLog::Live(events.clone());
        l.compact();
        assert!(matches!(l, EventLog::Live(_)));
        assert_eq!(l.after(0), events);
    }
}
