//! Request rates: a token bucket per subject (a user, or an API key with a rate of its own):
//! a burst, then a steady rate. And open streams per user ([`OpenStreams`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Streams open now (SSE, WebSocket, streamed chat completions, evaluation progress), by
/// user: each holds a socket, a task and a reader for as long as the client likes.
#[derive(Debug, Default, Clone)]
pub struct OpenStreams(Arc<Mutex<HashMap<String, usize>>>);

/// One open stream of a user; closing it (dropping this) gives its place back.
#[derive(Debug)]
pub struct StreamSlot {
    streams: OpenStreams,
    user: String,
}

impl OpenStreams {
    /// A place for one more stream of `user`, or the number they have open (`max`).
    pub fn open(&self, user: &str, max: usize) -> Result<StreamSlot, usize> {
        let mut open = self.0.lock();
        let n = open.entry(user.to_string()).or_default();
        if *n >= max {
            return Err(*n);
        }
        *n += 1;
        Ok(StreamSlot {
            streams: self.clone(),
            user: user.to_string(),
        })
    }

    /// `user`'s open streams.
    pub fn of(&self, user: &str) -> usize {
        self.0.lock().get(user).copied().unwrap_or(0)
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.streams.0.lock();
        if let Some(n) = open.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.user);
            }
        }
    }
}

/// A token bucket per subject; each check says the subject's rate.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// No buckets yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes a token for `subject`, allowed `per_minute` requests per minute on average and
    /// up to `burst` at once, or says how long until one is free. `per_minute` 0: no limit.
    pub fn check(&self, subject: &str, per_minute: u32, burst: u32) -> Result<(), Duration> {
        self.bucket(subject, per_minute, burst, true)
    }

    /// Whether `subject` has a token, without taking it (a failure that has not happened
    /// yet is not counted, but one more would be refused).
    pub fn peek(&self, subject: &str, per_minute: u32, burst: u32) -> Result<(), Duration> {
        self.bucket(subject, per_minute, burst, false)
    }

    fn bucket(
        &self,
        subject: &str,
        per_minute: u32,
        burst: u32,
        take: bool,
    ) -> Result<(), Duration> {
        if per_minute == 0 {
            return Ok(());
        }
        let per_second = f64::from(per_minute) / 60.0;
        let burst = f64::from(burst.max(1));
        let now = Instant::now();
        let mut buckets = self.buckets.lock();
        // Forget idle subjects now and then so the map does not grow without bound (a
        // bucket idle that long is full again anyway).
        if buckets.len() > 10_000 {
            buckets.retain(|_, (_, t)| now.duration_since(*t).as_secs_f64() < 600.0);
        }
        let (tokens, last) = buckets.entry(subject.to_string()).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * per_second).min(burst);
        *last = now;
        if *tokens >= 1.0 {
            if take {
                *tokens -= 1.0;
            }
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refuse_per_subject() {
        let l = RateLimiter::new();
        for _ in 0..3 {
            assert!(l.check("a", 60, 3).is_ok());
        }
        let wait = l.check("a", 60, 3).unwrap_err();
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1));
        assert!(l.check("b", 60, 3).is_ok());
        // Another subject at its own rate: 2 per minute, 2 at once.
        assert!(l.check("k", 2, 2).is_ok() && l.check("k", 2, 2).is_ok());
        let wait = l.check("k", 2, 2).unwrap_err();
        assert!(
            wait > Duration::from_secs(29) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert!(l.check("x", 0, 0).is_ok());
        // Peeking takes nothing.
        for _ in 0..5 {
            assert!(l.peek("p", 60, 1).is_ok());
        }
        assert!(l.check("p", 60, 1).is_ok());
        assert!(l.peek("p", 60, 1).is_err());
    }

    #[test]
    fn a_user_holds_at_most_max_streams_and_closing_gives_them_back() {
        let streams = OpenStreams::default();
        let a = streams.open("ann", 2).unwrap();
        let _b = streams.open("ann", 2).unwrap();
        assert_eq!(streams.open("ann", 2).unwrap_err(), 2);
        assert!(streams.open("bob", 2).is_ok());
        drop(a);
        assert_eq!(streams.of("ann"), 1);
        assert!(streams.open("ann", 2).is_ok());
    }
}
