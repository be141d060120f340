//! Authentication and key administration: who presents a secret, minting, listing,
//! updating and revoking keys, and what a key's budget and active slots hold.

use std::sync::Arc;

use llm_compare_core::{ActiveLease, Error, Result, now_ms};

use crate::SharedStore;
use crate::keys::{CreateKey, CreatedKey, KeyPage, KeyView, Keys, Principal, SelfView, UpdateKey};
use crate::usage::UsageQuery;

use super::{Service, page_limit};

impl Service {
    /// Static API keys (`(user, secret)` pairs from the configuration) beside the stored
    /// ones: no limits, never admin.
    pub fn with_static_keys<'a>(
        mut self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Self {
        self.keys = Arc::new(Keys::new(pairs, self.store.clone()));
        self
    }

    /// Who presents `secret` ([`Error::Unauthorized`] saying why not: missing, unknown,
    /// expired, revoked). On a server with no key anywhere, everyone is `anonymous`.
    pub async fn authenticate(&self, secret: Option<&str>) -> Result<Principal> {
        self.keys.authenticate(secret).await
    }

    /// [`Service::authenticate`], with `may_look_up` asked before an unknown secret costs a
    /// database query ([`crate::keys::Keys::authenticate_guarded`]).
    pub async fn authenticate_guarded(
        &self,
        secret: Option<&str>,
        may_look_up: impl FnOnce() -> Result<()>,
    ) -> Result<Principal> {
        self.keys.authenticate_guarded(secret, may_look_up).await
    }

    /// Whether no API key exists (static or stored): the server is open.
    pub async fn is_open(&self) -> Result<bool> {
        self.keys.ensure_loaded().await?;
        Ok(self.keys.is_open())
    }

    /// Reloads the stored keys now if they changed (servers also poll every 250 ms).
    pub async fn refresh_keys(&self) -> Result<()> {
        self.keys.refresh().await
    }

    pub(super) fn admin_only(who: &Principal) -> Result<()> {
        if who.is_admin() {
            Ok(())
        } else {
            Err(Error::Forbidden(
                "managing API keys needs an admin key (mint the first one with `llm-compare keys create --admin`)".into(),
            ))
        }
    }

    /// The budget hold for `who`'s `calls`: against its key's own budget when the key has
    /// one (account `key:<id>`), else against the server's budget for its user; None when no
    /// budget applies.
    pub(super) fn reservation(
        &self,
        who: &Principal,
        calls: &[llm_compare_core::ChatRequest],
    ) -> Result<Option<crate::Reservation>> {
        match who.key.as_ref().and_then(|k| k.budget.map(|b| (k, b))) {
            Some((key, (limit_pico, period))) => {
                let settings = self.budget.clone().unwrap_or_default();
                Ok(Some(crate::Reservation {
                    limit_pico,
                    period_start_ms: crate::budget::unix_ms(
                        period.start(time::OffsetDateTime::now_utc()),
                    ),
                    per_model_pico: settings.worst_case(&self.engine, calls)?,
                    account: Some(format!("key:{}", key.id)),
                }))
            }
            None => match &self.budget {
                Some(b) => b.reservation(&who.user, &self.engine, calls),
                None => Ok(None),
            },
        }
    }

    /// One of the active slots of `who`'s key, when the key limits them (`max_active`):
    /// held while the comparison or chat completion runs, on every server of a cluster.
    pub(super) async fn key_lease(&self, who: &Principal) -> Result<Option<ActiveLease>> {
        let Some((id, max)) = who
            .key
            .as_ref()
            .and_then(|k| k.max_active.map(|m| (k.id.as_str(), m)))
        else {
            return Ok(None);
        };
        // A subject no user name can be (control characters are refused in user names).
        let subject = format!("\u{1}key {id}");
        match self.registry.lease(&subject, Some(max as usize)).await {
            Ok(l) => Ok(Some(l)),
            Err(Error::RateLimited { retry_after, .. }) => Err(Error::RateLimited {
                message: format!(
                    "this API key's {max} active comparisons are all running (max_active)"
                ),
                retry_after,
            }),
            Err(e) => Err(e),
        }
    }

    /// Mints a key (admins only): the answer holds its secret, shown this once.
    pub async fn create_key(&self, who: &Principal, body: CreateKey) -> Result<CreatedKey> {
        Self::admin_only(who)?;
        let store = self.store_for("API keys need")?;
        let (key, secret) = body.mint()?;
        store.insert_key(&key).await?;
        self.keys.remember(&key)?;
        Ok(CreatedKey {
            key: secret,
            view: KeyView::of(&key)?,
        })
    }

    /// Keys, newest first (admins only), `limit` per page after `cursor`.
    pub async fn keys(
        &self,
        who: &Principal,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<KeyPage> {
        Self::admin_only(who)?;
        let store = self.store_for("API keys need")?;
        let limit = page_limit(limit)?;
        let rows = store.keys(limit + 1, cursor).await?;
        let more = rows.len() > limit as usize;
        let data = rows
            .iter()
            .take(limit as usize)
            .map(KeyView::of)
            .collect::<Result<Vec<_>>>()?;
        Ok(KeyPage {
            object: "list",
            next_cursor: if more {
                data.last().map(|k| k.id.clone())
            } else {
                None
            },
            data,
        })
    }

    pub(super) async fn stored_key(
        &self,
        who: &Principal,
        id: &str,
    ) -> Result<(SharedStore, crate::StoredKey)> {
        Self::admin_only(who)?;
        let store = self.store_for("API keys need")?.clone();
        let key = store
            .key(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no API key `{id}`")))?;
        Ok((store, key))
    }

    /// A key as saved (re-read: a concurrent revocation wins), cached here at once.
    pub(super) async fn saved_key(
        &self,
        store: &SharedStore,
        key: crate::StoredKey,
    ) -> Result<KeyView> {
        let saved = store.key(&key.id).await?.unwrap_or(key);
        self.keys.remember(&saved)?;
        KeyView::of(&saved)
    }

    /// Key `id` (admins only).
    pub async fn key(&self, who: &Principal, id: &str) -> Result<KeyView> {
        KeyView::of(&self.stored_key(who, id).await?.1)
    }

    /// Changes key `id`'s name, limits or expiry (admins only); every server sees it within
    /// a second.
    pub async fn update_key(
        &self,
        who: &Principal,
        id: &str,
        changes: UpdateKey,
    ) -> Result<KeyView> {
        let (store, mut key) = self.stored_key(who, id).await?;
        changes.apply(&mut key)?;
        store.update_key(&key).await?;
        self.saved_key(&store, key).await
    }

    /// Revokes key `id` (admins only): refused within a second on every server.
    pub async fn revoke_key(&self, who: &Principal, id: &str) -> Result<KeyView> {
        let (store, mut key) = self.stored_key(who, id).await?;
        key.revoked_at_ms.get_or_insert_with(now_ms);
        store.update_key(&key).await?;
        self.saved_key(&store, key).await
    }

    /// The budget `who`'s requests are held against now, with what is spent and held.
    pub(super) async fn budget_of(
        &self,
        who: &Principal,
    ) -> Result<Option<crate::usage::BudgetView>> {
        let Some(store) = &self.store else {
            return Ok(None);
        };
        let now = time::OffsetDateTime::now_utc();
        let (account, limit, period) = match who.key.as_ref().and_then(|k| k.budget.map(|b| (k, b)))
        {
            Some((key, (limit, period))) => (format!("key:{}", key.id), limit, period),
            None => match self
                .budget
                .as_ref()
                .and_then(|b| b.limit_pico(&who.user).map(|l| (l, b.period)))
            {
                Some((limit, period)) => (who.user.clone(), limit, period),
                None => return Ok(None),
            },
        };
        let start = crate::budget::unix_ms(period.start(now));
        let state = store.budget(&account, start).await?;
        Ok(Some(crate::usage::budget_view(period, start, limit, state)))
    }

    /// The caller's own key and what it allows.
    pub async fn key_self(&self, who: &Principal) -> Result<SelfView> {
        let key = match (&who.key, &self.store) {
            (Some(k), Some(store)) => store
                .key(&k.id)
                .await?
                .as_ref()
                .map(KeyView::of)
                .transpose()?,
            _ => None,
        };
        let budget = self.budget_of(who).await?;
        let usage = match &self.store {
            Some(_) => Some(self.usage(&who.user, &UsageQuery::default()).await?.total),
            None => None,
        };
        Ok(SelfView {
            budget,
            usage,
            user: who.user.clone(),
            kind: if key.is_some() {
                "stored"
            } else if self.keys.is_open() {
                "open"
            } else {
                "static"
            },
            key,
        })
    }
}
