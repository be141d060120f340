//! Who a request is ([`Principal`]) and what its key allows ([`Grant`]).

use super::*;

/// Who is calling: a user, and the key they called with (None: a static key, an open server,
/// or an embedding app acting for a user).
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user.
    pub user: String,
    /// The stored key, with its scope and limits.
    pub key: Option<Arc<Grant>>,
    /// Acting as the operator (the CLI against the database): may manage keys.
    pub(crate) operator: bool,
}

impl Principal {
    /// A user without a stored key: no key limits, not an admin.
    pub fn user(user: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            key: None,
            operator: false,
        }
    }

    /// The operator: whoever holds the database (`llm-compare keys …`).
    pub fn operator() -> Self {
        Self {
            user: "operator".into(),
            key: None,
            operator: true,
        }
    }

    /// Whether it may manage keys and see every user's usage.
    pub fn is_admin(&self) -> bool {
        self.operator || self.key.as_ref().is_some_and(|k| k.admin)
    }

    /// [`Error::ModelNotAllowed`] unless its key may use `model`.
    pub fn check_model(&self, model: &str) -> Result<()> {
        match &self.key {
            Some(k) if !k.allows(model) => Err(Error::ModelNotAllowed {
                model: model.to_string(),
                allowed: k.patterns.join(", "),
            }),
            _ => Ok(()),
        }
    }

    /// [`Error::Forbidden`] unless its key may run the server's tool `name` (asked as
    /// `field`).
    pub fn check_tool(&self, name: &str, field: &str) -> Result<()> {
        match &self.key {
            Some(k) if !k.allows_tool(name) => Err(Error::Forbidden(format!(
                "the API key `{}` may not run the tool `{name}` ({field}; its tools: {}): an admin grants it with PATCH /v1/keys/{} {{\"tools\": [\"{name}\", …]}}",
                k.id,
                match &k.tool_patterns {
                    Some(p) if !p.is_empty() => p.join(", "),
                    _ => "none".into(),
                },
                k.id
            ))),
            _ => Ok(()),
        }
    }

    /// Its key's allow-list, as patterns (empty without a key).
    pub fn allowed_patterns(&self) -> String {
        self.key
            .as_ref()
            .map(|k| k.patterns.join(", "))
            .unwrap_or_default()
    }

    /// Whether its key may use `model`.
    pub fn allows(&self, model: &str) -> bool {
        self.key.as_ref().is_none_or(|k| k.allows(model))
    }

    /// Its key's request rate, when it has one.
    pub fn rpm(&self) -> Option<(&str, u32)> {
        self.key
            .as_ref()
            .and_then(|k| k.rpm.map(|r| (k.id.as_str(), r)))
    }
}

/// A stored key as the authenticator holds it: what it may do, compiled.
#[derive(Debug)]
pub struct Grant {
    /// The key's id.
    pub id: String,
    /// The user it authenticates as.
    pub user: String,
    /// Whether it manages keys.
    pub admin: bool,
    patterns: Vec<String>,
    models: Option<GlobSet>,
    /// The tools' patterns (None: every tool).
    tool_patterns: Option<Vec<String>>,
    /// Them compiled (None with patterns: none of them).
    tools: Option<GlobSet>,
    /// Requests per minute.
    pub rpm: Option<u32>,
    /// Comparisons at once.
    pub max_active: Option<u32>,
    /// Its own budget: pico-USD per period (held against the key alone, instead of the
    /// server's per-user budget).
    pub budget: Option<(i64, Period)>,
    expires_at_ms: Option<i64>,
    revoked_at_ms: Option<i64>,
    pub(crate) digest: [u8; 32],
    pub(crate) last_touch_ms: AtomicI64,
}

impl Grant {
    pub(crate) fn of(k: &StoredKey) -> Result<Self> {
        Ok(Self {
            id: k.id.clone(),
            user: k.user.clone(),
            admin: k.admin,
            patterns: k.limits.models.clone(),
            models: compile(&k.limits.models, "models")?,
            tool_patterns: k.limits.tools.clone(),
            tools: match &k.limits.tools {
                Some(t) => compile(t, "tools")?,
                None => None,
            },
            rpm: k.limits.rpm,
            max_active: k.limits.max_active,
            budget: match k.limits.budget_pico {
                Some(pico) => Some((pico, stored_period(k)?.unwrap_or_default())),
                None => None,
            },
            expires_at_ms: k.expires_at_ms,
            revoked_at_ms: k.revoked_at_ms,
            digest: from_hex(&k.digest).ok_or_else(|| {
                Error::Internal(format!("corrupt stored row in api_keys `{}`: digest", k.id))
            })?,
            last_touch_ms: AtomicI64::new(k.last_used_at_ms.unwrap_or(0)),
        })
    }

    fn allows(&self, model: &str) -> bool {
        self.models.as_ref().is_none_or(|g| g.is_match(model))
    }

    fn allows_tool(&self, name: &str) -> bool {
        match (&self.tool_patterns, &self.tools) {
            (None, _) => true,
            (Some(_), Some(g)) => g.is_match(name),
            (Some(_), None) => false,
        }
    }

    /// Why this key may not be used at `now_ms`, if it may not.
    pub(crate) fn refusal(&self, now_ms: i64) -> Option<String> {
        if let Some(at) = self.revoked_at_ms {
            return Some(format!(
                "the API key `{}` was revoked ({})",
                self.id,
                rfc3339(at)
            ));
        }
        match self.expires_at_ms {
            Some(at) if at <= now_ms => Some(format!(
                "the API key `{}` expired ({})",
                self.id,
                rfc3339(at)
            )),
            _ => None,
        }
    }
}
