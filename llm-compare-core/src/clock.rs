//! The wall clock every crate stamps records with: one definition, so a stored time, a
//! ledger row and a registry entry agree on what "now" is.

/// Now, in Unix milliseconds (0 before 1970; saturating far in the future).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    #[test]
    fn now_is_after_2026() {
        // 2026-01-01T00:00:00Z
        assert!(super::now_ms() > 1_767_225_600_000);
    }
}
