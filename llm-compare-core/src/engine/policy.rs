//! How each model is called — retries, backoff, timeouts, fallbacks, default params — and
//! the aliases of model ids: what the engine and the runners consult per call. Built from the
//! configuration file by [`crate::config`], but needing nothing from it.

use std::collections::HashMap;
use std::time::Duration;

use crate::types::request::Params;

/// Timeouts of one model call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Until the response headers.
    pub connect: Duration,
    /// Until the first token of an attempt.
    pub first_token: Duration,
    /// Between chunks.
    pub idle: Duration,
    /// The whole call.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(15),
            first_token: Duration::from_secs(60),
            idle: Duration::from_secs(30),
            total: Duration::from_secs(600),
        }
    }
}

/// How one model is called: retries, backoff, timeouts, fallbacks, default params.
#[derive(Debug, Clone, PartialEq)]
pub struct CallPolicy {
    /// Retries before the first token.
    pub retries: u32,
    /// First backoff.
    pub backoff: Duration,
    /// Longest backoff.
    pub max_backoff: Duration,
    /// Longest `Retry-After` honoured.
    pub max_retry_after: Duration,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Fallback model ids, in order.
    pub fallbacks: Vec<String>,
    /// Default params (the request's win).
    pub params: Params,
}

impl Default for CallPolicy {
    fn default() -> Self {
        Self {
            retries: 2,
            backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(20),
            timeouts: Timeouts::default(),
            fallbacks: Vec::new(),
            params: Params::default(),
        }
    }
}

/// Per-model call policies and aliases, as the engine uses them.
#[derive(Debug, Clone, Default)]
pub struct Policies {
    default: CallPolicy,
    models: HashMap<String, CallPolicy>,
    aliases: HashMap<String, String>,
}

impl Policies {
    /// The given default for every model.
    pub fn new(default: CallPolicy) -> Self {
        Self {
            default,
            ..Self::default()
        }
    }

    /// Sets one model's policy.
    pub fn set(&mut self, model: impl Into<String>, policy: CallPolicy) {
        self.models.insert(model.into(), policy);
    }

    /// Adds an alias.
    pub fn alias(&mut self, alias: impl Into<String>, model: impl Into<String>) {
        self.aliases.insert(alias.into(), model.into());
    }

    /// Whether the configuration names `model` (a policy of its own, or an alias).
    pub fn names(&self, model: &str) -> bool {
        self.models.contains_key(model) || self.aliases.contains_key(model)
    }

    /// The model id an alias stands for (or the id itself).
    pub fn resolve_alias<'a>(&'a self, model: &'a str) -> &'a str {
        self.aliases.get(model.trim()).map_or(model, String::as_str)
    }

    /// The policy of `model`.
    pub fn policy(&self, model: &str) -> &CallPolicy {
        self.models.get(model).unwrap_or(&self.default)
    }
}
