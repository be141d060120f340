//! API keys as stored: who a key is, what it may do, and its digest (never the secret).

use serde::{Deserialize, Serialize};

/// One API key's row.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredKey {
    /// Its id (`key_…`).
    pub id: String,
    /// The user it authenticates as.
    pub user: String,
    /// A label.
    pub name: Option<String>,
    /// The secret's first characters, for recognition.
    pub prefix: String,
    /// Hex SHA-256 of the secret.
    pub digest: String,
    /// Whether it manages keys and sees every user's usage.
    pub admin: bool,
    /// Its limits.
    pub limits: KeyLimits,
    /// Created (Unix ms).
    pub created_at_ms: i64,
    /// Expires (Unix ms), if ever.
    pub expires_at_ms: Option<i64>,
    /// Last used (Unix ms; written at most once a minute).
    pub last_used_at_ms: Option<i64>,
    /// Revoked (Unix ms), if so.
    pub revoked_at_ms: Option<i64>,
}

/// A key's optional limits (the `limits` column, JSON; an unknown field is a corrupt row).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyLimits {
    /// Glob patterns of the models it may use (`openai/*`); empty: every model.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
    /// Requests per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u32>,
    /// Comparisons running at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_active: Option<u32>,
    /// Spending limit per period, pico-USD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_pico: Option<i64>,
    /// `day`, `week` or `month` (with `budget_pico`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    /// Glob patterns of the server's executable tools it may run; empty: none. Absent: every
    /// tool — what keys minted before tools were granted per key have (docs/server.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<String>>,
}
