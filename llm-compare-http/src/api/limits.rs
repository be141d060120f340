//! Request rates: a token bucket per subject (a user, or an API key with a rate of its own):
//! a burst, then a steady rate.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

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
}
