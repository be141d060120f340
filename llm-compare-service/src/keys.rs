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

mod admin;
mod principal;

pub use admin::*;
pub use principal::*;

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
