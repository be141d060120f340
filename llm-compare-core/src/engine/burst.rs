//! Bursts: the items of a stream that are ready now, taken as one batch, so a consumer that
//! writes (a socket, a registry) does one write per burst instead of one per token.
//!
//! `ready_chunks` alone is not enough behind an HTTP client: hyper hands a response body over
//! one HTTP chunk at a time from its connection task, so the stream reports `Pending` between
//! two SSE events that arrived in the same read. [`bursts`] gives the runtime one turn
//! (`yield_now`) before closing a batch: if the producer had more, it comes in this batch;
//! if not, the batch leaves after that one turn (microseconds, never a timer).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures::Stream;

/// Batches of `stream`'s items: each holds what was ready, at most `max` (≥ 1), never empty.
pub fn bursts<S: Stream>(stream: S, max: usize) -> Bursts<S> {
    Bursts {
        inner: Box::pin(stream),
        max: max.max(1),
        batch: Vec::new(),
        turn: None,
        ended: false,
    }
}

/// The stream of [`bursts`].
#[must_use = "streams do nothing unless polled"]
pub struct Bursts<S: Stream> {
    inner: Pin<Box<S>>,
    max: usize,
    batch: Vec<S::Item>,
    /// The turn given to the producers, while it lasts.
    turn: Option<Arc<TurnWaker>>,
    ended: bool,
}

// Items are moved, never pinned; the inner stream is pinned in its own box.
impl<S: Stream> Unpin for Bursts<S> {}

impl<S: Stream> std::fmt::Debug for Bursts<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bursts")
            .field("max", &self.max)
            .field("gathered", &self.batch.len())
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

/// The task's waker, noting that the runtime really woke it: a consumer may poll again in
/// the same turn (hyper re-polls a body after a flush), which must not count as a turn.
struct TurnWaker {
    woken: AtomicBool,
    task: Waker,
}

impl Wake for TurnWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake_by_ref();
    }
}

impl<S: Stream> Bursts<S> {
    fn take(&mut self) -> Poll<Option<Vec<S::Item>>> {
        Poll::Ready(Some(std::mem::take(&mut self.batch)))
    }

    /// The inner stream ended: what was gathered, then the end.
    fn end(&mut self) -> Poll<Option<Vec<S::Item>>> {
        self.ended = true;
        if self.batch.is_empty() {
            Poll::Ready(None)
        } else {
            self.take()
        }
    }
}

impl<S: Stream> Stream for Bursts<S> {
    type Item = Vec<S::Item>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(turn) = &this.turn {
            if !turn.woken.load(Ordering::Acquire) {
                // Polled again before the runtime ran anyone else: still waiting.
                return Poll::Pending;
            }
            this.turn = None;
            match this.inner.as_mut().poll_next(cx) {
                Poll::Ready(Some(item)) => this.batch.push(item),
                Poll::Ready(None) => return this.end(),
                // The turn brought nothing: the batch leaves.
                Poll::Pending => return this.take(),
            }
        }
        if this.ended {
            return Poll::Ready(None);
        }
        loop {
            if this.batch.len() >= this.max {
                return this.take();
            }
            match this.inner.as_mut().poll_next(cx) {
                Poll::Ready(Some(item)) => this.batch.push(item),
                Poll::Ready(None) => return this.end(),
                Poll::Pending if this.batch.is_empty() => return Poll::Pending,
                Poll::Pending => {
                    // One turn for the producers: a wake from the inner stream or from
                    // the runtime's yield (after the other ready tasks ran) ends it.
                    let turn = Arc::new(TurnWaker {
                        woken: AtomicBool::new(false),
                        task: cx.waker().clone(),
                    });
                    let waker = Waker::from(turn.clone());
                    let mut tcx = Context::from_waker(&waker);
                    match this.inner.as_mut().poll_next(&mut tcx) {
                        Poll::Ready(Some(item)) => {
                            this.batch.push(item);
                            continue;
                        }
                        Poll::Ready(None) => return this.end(),
                        Poll::Pending => {}
                    }
                    // The deferred wake stays with the runtime; the future is not needed.
                    let mut yielded = std::pin::pin!(tokio::task::yield_now());
                    let _ = yielded.as_mut().poll(&mut tcx);
                    this.turn = Some(turn);
                    return Poll::Pending;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use std::time::Duration;

    /// A producer task handing over `n` items one per scheduler turn (as hyper's connection
    /// task hands over a body chunk by chunk): a channel of capacity 1.
    fn one_per_turn(
        n: i32,
    ) -> (
        tokio_stream::wrappers::ReceiverStream<i32>,
        tokio::task::JoinHandle<()>,
    ) {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let producer = tokio::spawn(async move {
            for i in 0..n {
                tx.send(i).await.unwrap();
            }
        });
        (tokio_stream::wrappers::ReceiverStream::new(rx), producer)
    }

    #[tokio::test]
    async fn ready_items_come_in_one_batch_and_a_pause_closes_it() {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        for i in 0..5 {
            tx.send(i).unwrap();
        }
        let mut b = std::pin::pin!(bursts(
            tokio_stream::wrappers::UnboundedReceiverStream::new(rx),
            3
        ));
        assert_eq!(b.next().await, Some(vec![0, 1, 2]), "capped at max");
        assert_eq!(b.next().await, Some(vec![3, 4]));
        let sender = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            tx.send(5).unwrap();
        });
        assert_eq!(b.next().await, Some(vec![5]), "a pause closes the batch");
        sender.await.unwrap();
        assert_eq!(b.next().await, None);
    }

    #[tokio::test]
    async fn items_handed_over_one_per_turn_are_gathered() {
        let (rx, producer) = one_per_turn(20);
        let batches: Vec<Vec<i32>> = bursts(rx, 256).collect().await;
        producer.await.unwrap();
        assert_eq!(batches.concat(), (0..20).collect::<Vec<_>>());
        assert!(batches.len() <= 3, "few batches: {batches:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_consumer_polling_twice_per_turn_still_gets_batches() {
        // hyper polls a response body again in the same task poll after a flush: that second
        // poll is no scheduler turn and must not close the batch. On a worker thread, as a
        // server's connection task; one worker, so the producer runs only when the consumer
        // yields (with two, a loaded machine could deschedule the producer mid-burst and the
        // batches would measure the OS scheduler, not `bursts`).
        let batches = tokio::spawn(async {
            let (rx, producer) = one_per_turn(20);
            let mut b = bursts(rx, 256);
            let mut batches = Vec::new();
            loop {
                let next = std::future::poll_fn(|cx| match b.poll_next_unpin(cx) {
                    Poll::Pending => b.poll_next_unpin(cx),
                    ready => ready,
                })
                .await;
                match next {
                    Some(batch) => batches.push(batch),
                    None => break,
                }
            }
            producer.await.unwrap();
            batches
        })
        .await
        .unwrap();
        assert_eq!(batches.concat(), (0..20).collect::<Vec<_>>());
        assert!(batches.len() <= 4, "few batches: {batches:?}");
    }
}
