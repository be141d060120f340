//! Reading Server-Sent Events off an HTTP response, as a browser's `EventSource` parses them
//! (`eventsource-stream`): each frame's `id` (a sequence number here), `event` and JSON `data`.

use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::Value;

/// One SSE frame: its id when numeric, its event type, its data as JSON.
pub type Frame = (Option<u64>, String, Value);

/// The frames of `response`, one at a time (`next`), or all that are left (`rest`).
pub struct Reader {
    events: std::pin::Pin<Box<dyn futures::Stream<Item = Frame> + Send>>,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("sse::Reader")
    }
}

impl Reader {
    /// Reads `response` (a `text/event-stream`). Panics on a frame whose data is not JSON
    /// (every stream of this project sends JSON).
    pub fn new(response: reqwest::Response) -> Self {
        let events = response
            .bytes_stream()
            .eventsource()
            .take_while(|e| futures::future::ready(e.is_ok()))
            .filter_map(|e| futures::future::ready(e.ok()))
            .map(|e| {
                let data = serde_json::from_str(&e.data)
                    .unwrap_or_else(|err| panic!("SSE data is not JSON ({err}): {}", e.data));
                (e.id.parse().ok(), e.event, data)
            });
        Self {
            events: Box::pin(events),
        }
    }

    /// The next frame; None once the stream ended.
    pub async fn next(&mut self) -> Option<Frame> {
        self.events.next().await
    }

    /// Every frame left, until the stream ends.
    pub async fn rest(mut self) -> Vec<Frame> {
        let mut out = Vec::new();
        while let Some(f) = self.next().await {
            out.push(f);
        }
        out
    }
}

/// The frames of `response` until the stream ends or `limit` came.
pub async fn frames(response: reqwest::Response, limit: usize) -> Vec<Frame> {
    let mut reader = Reader::new(response);
    let mut out = Vec::new();
    while out.len() < limit {
        let Some(f) = reader.next().await else {
            break;
        };
        out.push(f);
    }
    out
}

/// The `seq`s (ids) of `frames`, in order; panics on a frame without one.
pub fn seqs(frames: &[Frame]) -> Vec<u64> {
    frames
        .iter()
        .map(|f| {
            f.0.unwrap_or_else(|| panic!("a frame without an id: {f:?}"))
        })
        .collect()
}
