//! Waiting on a condition with a deadline — what a test does instead of sleeping a fixed time
//! and hoping the thing happened.

use std::future::Future;
use std::time::Duration;

/// How often a condition is checked again.
const POLL: Duration = Duration::from_millis(10);

/// Waits until `done()` holds, checking every 10 ms, for at most `within`; panics naming
/// `what` when it never does.
pub async fn eventually(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// [`eventually`] for a condition that must be awaited (an HTTP call, a query): returns the
/// first value `check` gives that is `Some`.
pub async fn eventually_async<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waits_until_the_condition_holds() {
        let mut n = 0;
        eventually("three checks", Duration::from_secs(1), || {
            n += 1;
            n == 3
        })
        .await;
        assert_eq!(n, 3);
        let v = eventually_async("a value", Duration::from_secs(1), || async { Some(7) }).await;
        assert_eq!(v, 7);
    }

    #[tokio::test(start_paused = true)]
    #[should_panic(expected = "timed out after 100ms waiting for never")]
    async fn names_what_never_happened() {
        eventually("never", Duration::from_millis(100), || false).await;
    }
}
