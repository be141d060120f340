//! Key administration's bodies and views: creating and updating keys, each field checked,
//! and what a listing shows (never a secret).

use super::*;

/// A key's scope.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Comparisons, chat completions, sessions, votes, its user's usage.
    #[default]
    User,
    /// All of that, and managing keys.
    Admin,
}

/// `POST /v1/keys`.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// The user the key authenticates as.
    pub user: String,
    /// A label.
    #[serde(default)]
    pub name: Option<String>,
    /// `admin` or `user` (default).
    #[serde(default)]
    pub scope: Option<Scope>,
    /// Same as `scope: "admin"`.
    #[serde(default)]
    pub admin: Option<bool>,
    /// Glob patterns of the models it may use (`openai/*`, `sim/*`); absent: every model.
    #[serde(default)]
    pub models: Option<Vec<String>>,
    /// Requests per minute (at most this many at once, then this rate).
    #[serde(default)]
    pub rpm: Option<u32>,
    /// Comparisons running at once.
    #[serde(default)]
    pub max_active: Option<u32>,
    /// Spending limit per period, USD.
    #[serde(default)]
    pub budget_usd: Option<f64>,
    /// `day`, `week` or `month` (default) for `budget_usd`.
    #[serde(default)]
    pub period: Option<Period>,
    /// When it stops working: RFC 3339, a date or Unix ms.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// Glob patterns of the server's executable tools it may run; absent: none (an admin
    /// key: every tool).
    #[serde(default)]
    pub tools: Option<Vec<String>>,
}

fn some<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// `PATCH /v1/keys/{id}`: what is given changes; `null` clears a limit.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateKey {
    /// A label.
    #[serde(default, deserialize_with = "some")]
    pub name: Option<Option<String>>,
    /// Allowed models (glob patterns); null or `[]`: every model.
    #[serde(default, deserialize_with = "some")]
    pub models: Option<Option<Vec<String>>>,
    /// Requests per minute.
    #[serde(default, deserialize_with = "some")]
    pub rpm: Option<Option<u32>>,
    /// Comparisons at once.
    #[serde(default, deserialize_with = "some")]
    pub max_active: Option<Option<u32>>,
    /// Spending limit per period, USD.
    #[serde(default, deserialize_with = "some")]
    pub budget_usd: Option<Option<f64>>,
    /// The budget's period.
    #[serde(default)]
    pub period: Option<Period>,
    /// Expiry: RFC 3339, a date or Unix ms; null: never.
    #[serde(default, deserialize_with = "some")]
    pub expires_at: Option<Option<String>>,
    /// The server's tools it may run (glob patterns; `[]`: none); null: every tool.
    #[serde(default, deserialize_with = "some")]
    pub tools: Option<Option<Vec<String>>>,
}

/// A key as the API shows it: never its secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct KeyView {
    /// Its id.
    pub id: String,
    /// `key`.
    pub object: &'static str,
    /// The user it authenticates as.
    pub user: String,
    /// Its label.
    pub name: Option<String>,
    /// The secret's first characters.
    pub prefix: String,
    /// `admin` or `user`.
    pub scope: Scope,
    /// Allowed models (glob patterns); empty: every model.
    pub models: Vec<String>,
    /// The server's tools it may run (glob patterns; empty: none); null: every tool.
    pub tools: Option<Vec<String>>,
    /// Requests per minute.
    pub rpm: Option<u32>,
    /// Comparisons at once.
    pub max_active: Option<u32>,
    /// Spending limit per period, USD.
    pub budget_usd: Option<f64>,
    /// The budget's period.
    #[cfg_attr(feature = "ts", ts(type = "\"day\" | \"week\" | \"month\" | null"))]
    pub period: Option<Period>,
    /// Created (Unix ms).
    pub created_at_ms: i64,
    /// Expires (Unix ms).
    pub expires_at_ms: Option<i64>,
    /// Last used (Unix ms, to the minute).
    pub last_used_at_ms: Option<i64>,
    /// Revoked (Unix ms).
    pub revoked_at_ms: Option<i64>,
    /// `active`, `expired` or `revoked`.
    pub status: &'static str,
}

impl KeyView {
    /// The view of a stored key.
    pub fn of(k: &StoredKey) -> Result<Self> {
        let now = now_ms();
        Ok(Self {
            id: k.id.clone(),
            object: "key",
            user: k.user.clone(),
            name: k.name.clone(),
            prefix: k.prefix.clone(),
            scope: if k.admin { Scope::Admin } else { Scope::User },
            models: k.limits.models.clone(),
            tools: k.limits.tools.clone(),
            rpm: k.limits.rpm,
            max_active: k.limits.max_active,
            budget_usd: k.limits.budget_pico.map(|p| p as f64 / 1e12),
            period: stored_period(k)?,
            created_at_ms: k.created_at_ms,
            expires_at_ms: k.expires_at_ms,
            last_used_at_ms: k.last_used_at_ms,
            revoked_at_ms: k.revoked_at_ms,
            status: if k.revoked_at_ms.is_some() {
                "revoked"
            } else if k.expires_at_ms.is_some_and(|e| e <= now) {
                "expired"
            } else {
                "active"
            },
        })
    }
}

/// `POST /v1/keys`'s answer: the key, and its secret — shown this once.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CreatedKey {
    /// The secret: `Authorization: Bearer <key>`. Not stored; not shown again.
    pub key: String,
    /// The key.
    #[serde(flatten)]
    pub view: KeyView,
}

/// A page of keys.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct KeyPage {
    /// `list`.
    pub object: &'static str,
    /// Newest first.
    pub data: Vec<KeyView>,
    /// Give as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// `GET /v1/keys/self`: who the caller is and what its key allows.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SelfView {
    /// The caller's user.
    pub user: String,
    /// `stored` (a key from the key API), `static` (from the configuration) or `open` (no
    /// keys on this server).
    pub kind: &'static str,
    /// The stored key, when the caller used one.
    pub key: Option<KeyView>,
    /// The budget the caller's requests are held against in the current period (the key's
    /// own, else the server's for the user), when one applies.
    pub budget: Option<crate::usage::BudgetView>,
    /// The user's calls, tokens and cost in the current budget period (else the last 30
    /// days), when the server has a store.
    pub usage: Option<crate::usage::UsageLine>,
}

fn check_text(field: &str, v: &str, max: usize) -> Result<()> {
    if v.chars().any(char::is_control) {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    if v.chars().count() > max {
        return Err(Error::invalid(field, format!("at most {max} characters")));
    }
    Ok(())
}

fn check_models(models: &[String]) -> Result<()> {
    for (i, m) in models.iter().enumerate() {
        check_text(&format!("models[{i}]"), m, 200)?;
        if m.trim().is_empty() {
            return Err(Error::invalid(format!("models[{i}]"), "empty pattern"));
        }
    }
    compile(models, "models").map(|_| ())
}

fn budget_pico(usd: f64) -> Result<i64> {
    if !usd.is_finite() || usd < 0.0 {
        return Err(Error::invalid(
            "budget_usd",
            "must be a number of USD, zero or more",
        ));
    }
    Ok(llm_compare_core::Usd::from_f64(usd)
        .pico()
        .min(i64::MAX as u64) as i64)
}

fn expiry(v: &str, now: i64) -> Result<i64> {
    let at = crate::usage::parse_time("expires_at", v)?;
    if at <= now {
        return Err(Error::invalid("expires_at", "is in the past"));
    }
    Ok(at)
}

fn check_positive(field: &str, v: Option<u32>) -> Result<()> {
    if v == Some(0) {
        return Err(Error::invalid(field, "must be 1 or more"));
    }
    Ok(())
}

fn period_name(p: Period) -> String {
    match p {
        Period::Day => "day",
        Period::Week => "week",
        Period::Month => "month",
    }
    .to_string()
}

impl CreateKey {
    /// The key to store (checked) and its secret.
    pub fn mint(self) -> Result<(StoredKey, String)> {
        let user = self.user.trim().to_string();
        if user.is_empty() {
            return Err(Error::invalid("user", "a user name is required"));
        }
        check_text("user", &user, 200)?;
        if let Some(n) = &self.name {
            check_text("name", n, 200)?;
        }
        let admin = match (self.scope, self.admin) {
            (Some(s), Some(a)) if (s == Scope::Admin) != a => {
                return Err(Error::invalid("admin", "contradicts scope"));
            }
            (Some(s), _) => s == Scope::Admin,
            (None, a) => a.unwrap_or(false),
        };
        let models = self.models.unwrap_or_default();
        check_models(&models)?;
        // A new key runs no tool unless granted; an admin key, every one.
        let tools = match (self.tools, admin) {
            (Some(t), _) => Some(t),
            (None, true) => None,
            (None, false) => Some(Vec::new()),
        };
        if let Some(t) = &tools {
            compile(t, "tools")?;
        }
        check_positive("rpm", self.rpm)?;
        check_positive("max_active", self.max_active)?;
        let budget = self.budget_usd.map(budget_pico).transpose()?;
        if self.period.is_some() && budget.is_none() {
            return Err(Error::invalid("period", "a period needs budget_usd"));
        }
        let now = now_ms();
        let expires_at_ms = self
            .expires_at
            .as_deref()
            .map(|v| expiry(v, now))
            .transpose()?;
        let (secret, prefix, d) = mint()?;
        Ok((
            StoredKey {
                id: format!("key_{}", uuid::Uuid::now_v7().simple()),
                user,
                name: self.name,
                prefix,
                digest: to_hex(&d),
                admin,
                limits: KeyLimits {
                    models,
                    rpm: self.rpm,
                    max_active: self.max_active,
                    budget_pico: budget,
                    period: budget.map(|_| period_name(self.period.unwrap_or_default())),
                    tools,
                },
                created_at_ms: now,
                expires_at_ms,
                last_used_at_ms: None,
                revoked_at_ms: None,
            },
            secret,
        ))
    }
}

impl UpdateKey {
    /// Applies these changes to `k` (checked).
    pub fn apply(self, k: &mut StoredKey) -> Result<()> {
        if let Some(n) = self.name {
            if let Some(n) = &n {
                check_text("name", n, 200)?;
            }
            k.name = n;
        }
        if let Some(m) = self.models {
            let m = m.unwrap_or_default();
            check_models(&m)?;
            k.limits.models = m;
        }
        if let Some(r) = self.rpm {
            check_positive("rpm", r)?;
            k.limits.rpm = r;
        }
        if let Some(a) = self.max_active {
            check_positive("max_active", a)?;
            k.limits.max_active = a;
        }
        if let Some(b) = self.budget_usd {
            k.limits.budget_pico = b.map(budget_pico).transpose()?;
        }
        if let Some(p) = self.period {
            if k.limits.budget_pico.is_none() {
                return Err(Error::invalid("period", "a period needs budget_usd"));
            }
            k.limits.period = Some(period_name(p));
        }
        k.limits.period = match k.limits.budget_pico {
            Some(_) => k
                .limits
                .period
                .take()
                .or_else(|| Some(period_name(Period::Month))),
            None => None,
        };
        if let Some(e) = self.expires_at {
            k.expires_at_ms = e.as_deref().map(|v| expiry(v, now_ms())).transpose()?;
        }
        if let Some(t) = self.tools {
            if let Some(t) = &t {
                compile(t, "tools")?;
            }
            k.limits.tools = t;
        }
        Ok(())
    }
}
