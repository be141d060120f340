//! API keys as data: minting (the secret is shown once; only its SHA-256 digest is stored),
//! the key routes' bodies and views, and the authenticator every request goes through.
//!
//! Keys come from two places: static `user:KEY` pairs from the configuration (no limits,
//! never admin: an upgrade must not hand out key management) and the store. Stored keys are
//! cached in memory — a valid key costs no database round trip — and the cache reloads when
//! the store's key epoch changes (every change bumps it in the same transaction), which each
//! server polls every [`REFRESH_EVERY`]: a revocation reaches every server of a cluster within
//! a second. A secret the cache does not know is looked up once (a key minted a moment ago on
//! another server). `last_used_at` is written at most once a minute per key.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use globset::{Glob, GlobSet, GlobSetBuilder};
use llm_compare_core::{Error, Result, now_ms};
use llm_compare_store::{KeyLimits, StoredKey};
use parking_lot::RwLock;
use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::budget::Period;
use llm_compare_store::SharedStore;

/// How often a server checks the store's key epoch.
pub const REFRESH_EVERY: Duration = Duration::from_millis(250);
/// `last_used_at` is written at most this often per key.
const TOUCH_EVERY_MS: i64 = 60_000;
/// What every secret starts with: recognizable in a leak scan.
const SECRET_PREFIX: &str = "lcsk_";
/// Characters of the secret kept visible (`prefix`), the `lcsk_` included.
const VISIBLE: usize = 13;

/// The user every caller is on an open server (no key configured anywhere).
pub const ANONYMOUS: &str = "anonymous";

/// Who is calling: a user, and the key they called with (None: a static key, an open server,
/// or an embedding app acting for a user).
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user.
    pub user: String,
    /// The stored key, with its scope and limits.
    pub key: Option<Arc<Grant>>,
    /// Acting as the operator (the CLI against the database): may manage keys.
    operator: bool,
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
    digest: [u8; 32],
    last_touch_ms: AtomicI64,
}

impl Grant {
    fn of(k: &StoredKey) -> Result<Self> {
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
    fn refusal(&self, now_ms: i64) -> Option<String> {
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

/// A stored key's budget period; an unknown one is a corrupt row.
fn stored_period(k: &StoredKey) -> Result<Option<Period>> {
    k.limits
        .period
        .as_deref()
        .map(|p| {
            serde_json::from_value(serde_json::Value::String(p.to_string())).map_err(|_| {
                Error::Internal(format!(
                    "corrupt stored row in api_keys `{}`: period `{p}`",
                    k.id
                ))
            })
        })
        .transpose()
}

/// `patterns` as one glob set (None when empty: every model); a bad one blames `field[i]`.
fn compile(patterns: &[String], field: &str) -> Result<Option<GlobSet>> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    for (i, p) in patterns.iter().enumerate() {
        let glob = Glob::new(p).map_err(|e| {
            Error::invalid(
                format!("{field}[{i}]"),
                format!("`{p}` is not a glob pattern (like `openai/*`): {e}"),
            )
        })?;
        b.add(glob);
    }
    b.build()
        .map(Some)
        .map_err(|e| Error::invalid(field, format!("bad glob patterns: {e}")))
}

fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return None;
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// A new secret (`lcsk_` + 256 random bits, base64url), its visible prefix and its digest.
fn mint() -> Result<(String, String, [u8; 32])> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::Internal(format!("no randomness for a key: {e}")))?;
    let secret = format!(
        "{SECRET_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let prefix = secret.chars().take(VISIBLE).collect();
    let d = digest(&secret);
    Ok((secret, prefix, d))
}

/// What the cache holds.
#[derive(Default)]
struct Cache {
    epoch: Option<i64>,
    by_digest: HashMap<[u8; 32], Arc<Grant>>,
    /// Secrets looked up and not found since the last reload: a wrong key costs one database
    /// lookup per reload, not one per request (bounded; a reload clears it, so a key minted
    /// elsewhere is never hidden by it for longer than the poll).
    missing: std::collections::HashSet<[u8; 32]>,
}

/// Most wrong secrets remembered between reloads.
const MISSING_MAX: usize = 10_000;

/// Authenticates secrets: static keys and stored ones (cached).
pub struct Keys {
    statics: HashMap<[u8; 32], String>,
    store: Option<SharedStore>,
    cache: RwLock<Cache>,
    loaded: tokio::sync::OnceCell<()>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("static", &self.statics.len())
            .field("stored", &self.cache.read().by_digest.len())
            .finish()
    }
}

impl Keys {
    /// Static `(user, secret)` pairs and the store's keys.
    pub fn new<'a>(
        statics: impl IntoIterator<Item = (&'a str, &'a str)>,
        store: Option<SharedStore>,
    ) -> Self {
        Self {
            statics: statics
                .into_iter()
                .map(|(u, k)| (digest(k), u.to_string()))
                .collect(),
            store,
            cache: RwLock::new(Cache::default()),
            loaded: tokio::sync::OnceCell::new(),
        }
    }

    /// Whether no key exists anywhere: then every caller is [`ANONYMOUS`]. A revoked or
    /// expired key still counts: revoking the last key must not open the server to everyone.
    pub fn is_open(&self) -> bool {
        self.statics.is_empty() && self.cache.read().by_digest.is_empty()
    }

    /// Reloads the stored keys when the store's key epoch moved (or on the first call).
    pub async fn refresh(&self) -> Result<()> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let epoch = store.key_epoch().await?;
        if self.cache.read().epoch == Some(epoch) {
            return Ok(());
        }
        let mut by_digest = HashMap::new();
        for k in store.all_keys().await? {
            let g = Grant::of(&k)?;
            by_digest.insert(g.digest, Arc::new(g));
        }
        let mut c = self.cache.write();
        // Keep the newest touch times across reloads.
        for (d, g) in &by_digest {
            if let Some(old) = c.by_digest.get(d) {
                g.last_touch_ms
                    .fetch_max(old.last_touch_ms.load(Ordering::Relaxed), Ordering::Relaxed);
            }
        }
        *c = Cache {
            epoch: Some(epoch),
            by_digest,
            missing: Default::default(),
        };
        Ok(())
    }

    /// Puts a key this process just wrote into the cache (the poll reloads every key when it
    /// sees the epoch move; this one is right at once, here).
    pub fn remember(&self, key: &StoredKey) -> Result<()> {
        let g = Arc::new(Grant::of(key)?);
        let mut c = self.cache.write();
        c.missing.remove(&g.digest);
        if let Some(old) = c.by_digest.get(&g.digest) {
            g.last_touch_ms
                .fetch_max(old.last_touch_ms.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        c.by_digest.insert(g.digest, g);
        Ok(())
    }

    /// The first load, once (every authentication waits for it: a server whose keys are in
    /// the store is never open, not even for its first request); it starts the poll of the
    /// key epoch (inside the caller's runtime: an engine may be built outside one).
    pub async fn ensure_loaded(self: &Arc<Self>) -> Result<()> {
        self.loaded
            .get_or_try_init(|| async {
                self.refresh().await?;
                Self::spawn_refresh(self);
                Ok::<(), Error>(())
            })
            .await
            .map(|_| ())
    }

    /// Polls the store's key epoch every [`REFRESH_EVERY`] until `keys` is dropped.
    fn spawn_refresh(keys: &Arc<Keys>) {
        if keys.store.is_none() {
            return;
        }
        let weak = Arc::downgrade(keys);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(REFRESH_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(keys) = weak.upgrade() else { return };
                if let Err(e) = keys.refresh().await {
                    tracing::warn!(target: "llm_compare::keys", error = %e, "could not reload API keys; keeping the cached ones");
                }
            }
        });
    }

    /// Who presents `secret` (None: no key given).
    pub async fn authenticate(self: &Arc<Self>, secret: Option<&str>) -> Result<Principal> {
        self.authenticate_guarded(secret, || Ok(())).await
    }

    /// [`Keys::authenticate`], asking `may_look_up` before a secret this process does not
    /// know costs a database query (its refusal is the answer: a client that failed too
    /// often). Known keys are answered from memory either way.
    pub async fn authenticate_guarded(
        self: &Arc<Self>,
        secret: Option<&str>,
        may_look_up: impl FnOnce() -> Result<()>,
    ) -> Result<Principal> {
        self.ensure_loaded().await?;
        if self.is_open() {
            return Ok(Principal::user(ANONYMOUS));
        }
        let secret = secret
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                Error::Unauthorized(
                    "an API key is required: Authorization: Bearer KEY or X-API-Key: KEY".into(),
                )
            })?;
        let d = digest(secret);
        if let Some(user) = self.statics.get(&d) {
            return Ok(Principal::user(user.clone()));
        }
        let cached = self.cache.read().by_digest.get(&d).cloned();
        let grant = match cached {
            Some(g) => g,
            None => {
                may_look_up()?;
                self.look_up(&d).await?
            }
        };
        // The map lookup found it by digest; compare the digests in constant time anyway.
        if !bool::from(grant.digest.ct_eq(&d)) {
            return Err(Error::Unauthorized("the API key is not valid".into()));
        }
        let now = now_ms();
        if let Some(why) = grant.refusal(now) {
            return Err(Error::Unauthorized(why));
        }
        self.touch(&grant, now);
        Ok(Principal {
            user: grant.user.clone(),
            key: Some(grant),
            operator: false,
        })
    }

    /// A secret the cache does not know: maybe minted on another server a moment ago.
    async fn look_up(&self, d: &[u8; 32]) -> Result<Arc<Grant>> {
        let invalid = || Error::Unauthorized("the API key is not valid".into());
        let Some(store) = &self.store else {
            return Err(invalid());
        };
        if self.cache.read().missing.contains(d) {
            return Err(invalid());
        }
        let Some(k) = store.key_by_digest(&to_hex(d)).await? else {
            let mut c = self.cache.write();
            if c.missing.len() >= MISSING_MAX {
                c.missing.clear();
            }
            c.missing.insert(*d);
            return Err(invalid());
        };
        let g = Arc::new(Grant::of(&k)?);
        self.cache.write().by_digest.insert(*d, g.clone());
        Ok(g)
    }

    /// Writes `last_used_at`, at most once a minute per key, off the request's path.
    fn touch(&self, g: &Arc<Grant>, now: i64) {
        let last = g.last_touch_ms.load(Ordering::Relaxed);
        if now - last < TOUCH_EVERY_MS
            || g.last_touch_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        if let Some(store) = self.store.clone() {
            let id = g.id.clone();
            tokio::spawn(async move {
                if let Err(e) = store.touch_key(&id, now).await {
                    tracing::warn!(target: "llm_compare::keys", key = %id, error = %e, "could not record the key's last use");
                }
            });
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_prefixed_and_only_their_digest_is_kept() {
        let (a, pa, da) = mint().unwrap();
        let (b, _, _) = mint().unwrap();
        assert_ne!(a, b);
        assert!(
            a.starts_with(SECRET_PREFIX) && a.len() == SECRET_PREFIX.len() + 43,
            "{a}"
        );
        assert!(a.starts_with(&pa) && pa.len() == VISIBLE);
        assert_eq!(from_hex(&to_hex(&da)), Some(da));
        assert_eq!(da, digest(&a));
    }

    #[test]
    fn bad_key_bodies_name_their_field() {
        let base = || CreateKey {
            user: "alice".into(),
            ..CreateKey::default()
        };
        for (body, field) in [
            (
                CreateKey {
                    user: " ".into(),
                    ..base()
                },
                "user",
            ),
            (
                CreateKey {
                    user: "al\u{7}ice".into(),
                    ..base()
                },
                "user",
            ),
            (
                CreateKey {
                    models: Some(vec!["openai/[".into()]),
                    ..base()
                },
                "models[0]",
            ),
            (
                CreateKey {
                    budget_usd: Some(-1.0),
                    ..base()
                },
                "budget_usd",
            ),
            (
                CreateKey {
                    period: Some(Period::Day),
                    ..base()
                },
                "period",
            ),
            (
                CreateKey {
                    rpm: Some(0),
                    ..base()
                },
                "rpm",
            ),
            (
                CreateKey {
                    expires_at: Some("2001-01-01".into()),
                    ..base()
                },
                "expires_at",
            ),
            (
                CreateKey {
                    scope: Some(Scope::User),
                    admin: Some(true),
                    ..base()
                },
                "admin",
            ),
        ] {
            let e = body.mint().unwrap_err();
            assert_eq!(e.field(), Some(field), "{e}");
        }
    }

    #[test]
    fn allow_lists_are_globs() {
        let (k, _) = CreateKey {
            user: "bob".into(),
            models: Some(vec!["sim/*".into(), "openai/gpt-4o-mini".into()]),
            ..CreateKey::default()
        }
        .mint()
        .unwrap();
        let p = Principal {
            user: "bob".into(),
            key: Some(Arc::new(Grant::of(&k).unwrap())),
            operator: false,
        };
        assert!(p.allows("sim/echo") && p.allows("openai/gpt-4o-mini"));
        assert!(!p.allows("openai/gpt-4o"));
        let e = p.check_model("openai/gpt-4o").unwrap_err();
        assert_eq!(e.code(), llm_compare_core::ErrorCode::ModelNotAllowed);
        assert!(e.to_string().contains("openai/gpt-4o"), "{e}");
        assert!(!p.is_admin());
    }
}
