//! The service's per-caller limits on units of work (`[server.limits]`): how much one
//! request may ask for, each with a safe default, a setting that raises it, and one refusal
//! ([`Error::LimitExceeded`]) naming the limit, its value and that setting.

use llm_compare_core::Error;
use serde::Deserialize;

/// `[server.limits]` in the configuration file (every key optional; 0 is not "unlimited":
/// a limit is a number).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Rows of one evaluation dataset (default 10,000).
    pub eval_max_rows: usize,
    /// Rows × `repeat` of one evaluation run (default 20,000).
    pub eval_max_units: usize,
    /// Bytes of one row's prompt, as given or rendered from the template (default 1 MiB:
    /// about 250,000 tokens, past the context window of nearly every model).
    pub eval_max_prompt_bytes: usize,
    /// Bytes of every row's prompt together, as rendered (default 64 MiB): what a dataset
    /// may hold in memory however small its file.
    pub eval_max_dataset_bytes: usize,
    /// Evaluation runs one user may have running at once (default 2).
    pub eval_runs_per_user: usize,
    /// Bytes of attachments (images, files; decoded) one user may have stored, each counted
    /// once however many comparisons carry it (default 1 GiB).
    pub attachment_quota_bytes: u64,
    /// Bytes of one Responses-API thread (`previous_response_id`'s conversation with the new
    /// input, as stored; default 8 MiB): how long a chain of follow-ups may grow.
    pub response_thread_max_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            eval_max_rows: 10_000,
            eval_max_units: 20_000,
            eval_max_prompt_bytes: 1024 * 1024,
            eval_max_dataset_bytes: 64 * 1024 * 1024,
            eval_runs_per_user: 2,
            attachment_quota_bytes: 1 << 30,
            response_thread_max_bytes: 8 * 1024 * 1024,
        }
    }
}

impl Limits {
    /// Limits for one person's own process (the CLI, an embedding app): a dataset is
    /// theirs, so only memory bounds it.
    pub fn local() -> Self {
        Self {
            eval_max_rows: usize::MAX,
            eval_max_units: usize::MAX,
            eval_max_prompt_bytes: usize::MAX,
            eval_max_dataset_bytes: usize::MAX,
            eval_runs_per_user: usize::MAX,
            attachment_quota_bytes: u64::MAX,
            response_thread_max_bytes: usize::MAX,
        }
    }

    /// The refusal by limit `name` (of `value`), blaming `field`.
    pub fn exceeded(name: &str, value: usize, field: &str, message: impl Into<String>) -> Error {
        Error::limit_exceeded(
            name,
            u64::try_from(value).unwrap_or(u64::MAX),
            Some(field),
            message,
            setting(name),
        )
    }
}

/// The refusal of a request that would take `owner` past their attachment quota.
pub fn over_quota(quota: u64, stored: u64, adding: u64) -> Error {
    Error::QuotaExceeded(Box::new(llm_compare_core::LimitExceeded {
        limit: "attachment_quota_bytes".into(),
        value: quota,
        field: Some("attachments".into()),
        message: format!(
            "your stored attachments come to {stored} bytes and these add {adding}: a user may store at most {quota}; delete sessions you no longer need"
        ),
        setting: setting("attachment_quota_bytes"),
    }))
}

/// Where limit `name` is set.
pub fn setting(name: &str) -> String {
    format!("`{name}` in [server.limits] of the configuration file")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_the_limit_its_value_and_its_setting() {
        let e = Limits::exceeded("eval_max_rows", 10, "dataset", "line 11 is row 11");
        assert_eq!(e.code(), llm_compare_core::ErrorCode::LimitExceeded);
        assert_eq!(e.http_status(), 400);
        assert_eq!(e.field(), Some("dataset"));
        let l = e.limit().unwrap();
        assert_eq!((l.limit.as_str(), l.value), ("eval_max_rows", 10));
        let text = e.to_string();
        assert!(
            text.contains("line 11") && text.contains("[server.limits]"),
            "{text}"
        );
        let parsed: Limits = serde_json::from_str(r#"{"eval_max_rows": 5}"#).unwrap();
        assert_eq!(parsed.eval_max_rows, 5);
        assert_eq!(
            parsed.eval_runs_per_user,
            Limits::default().eval_runs_per_user
        );
        assert!(serde_json::from_str::<Limits>(r#"{"eval_max_rowz": 5}"#).is_err());
    }
}
