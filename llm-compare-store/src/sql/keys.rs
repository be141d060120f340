//! The API keys' SQL: one row per key, and the epoch row bumped with every change.

use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

use super::SqlStore;
use super::decode::{db_err, get, json, parse_json};
use crate::KeyStore;
use crate::{KeyLimits, StoredKey};
use async_trait::async_trait;
use llm_compare_core::Result;

const COLUMNS: &str = "id, owner, name, prefix, digest, admin, limits, created_at_ms, expires_at_ms, last_used_at_ms, revoked_at_ms";

/// A unique column a key is looked up by.
#[derive(Debug, Clone, Copy)]
pub(super) enum KeyColumn {
    /// Its id.
    Id,
    /// The secret's digest.
    Digest,
}

fn key_of(row: &AnyRow) -> Result<StoredKey> {
    let id: String = get(row, "id")?;
    let limits: String = get(row, "limits")?;
    Ok(StoredKey {
        limits: parse_json::<KeyLimits>("api_keys", &id, "limits", &limits)?,
        user: get(row, "owner")?,
        name: get(row, "name")?,
        prefix: get(row, "prefix")?,
        digest: get(row, "digest")?,
        admin: get::<i64>(row, "admin")? != 0,
        created_at_ms: get(row, "created_at_ms")?,
        expires_at_ms: get(row, "expires_at_ms")?,
        last_used_at_ms: get(row, "last_used_at_ms")?,
        revoked_at_ms: get(row, "revoked_at_ms")?,
        id,
    })
}

pub(super) async fn bump(tx: &mut Transaction<'static, Any>) -> Result<()> {
    sqlx::query("UPDATE api_key_epoch SET epoch = epoch + 1 WHERE id = 1")
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    Ok(())
}

impl SqlStore {
    pub(super) async fn insert_key_row(&self, k: &StoredKey) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO api_keys (id, owner, name, prefix, digest, admin, limits, created_at_ms, expires_at_ms, last_used_at_ms, revoked_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&k.id)
        .bind(&k.user)
        .bind(&k.name)
        .bind(&k.prefix)
        .bind(&k.digest)
        .bind(i64::from(k.admin))
        .bind(json(&k.limits))
        .bind(k.created_at_ms)
        .bind(k.expires_at_ms)
        .bind(k.last_used_at_ms)
        .bind(k.revoked_at_ms)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        bump(&mut tx).await?;
        tx.commit().await.map_err(db_err)
    }

    pub(super) async fn update_key_row(&self, k: &StoredKey) -> Result<bool> {
        let mut tx = self.begin().await?;
        // A revoked key stays revoked, whatever a concurrent edit read before.
        let done = sqlx::query(
            "UPDATE api_keys SET name = $1, admin = $2, limits = $3, expires_at_ms = $4, \
             revoked_at_ms = COALESCE(revoked_at_ms, $5) WHERE id = $6",
        )
        .bind(&k.name)
        .bind(i64::from(k.admin))
        .bind(json(&k.limits))
        .bind(k.expires_at_ms)
        .bind(k.revoked_at_ms)
        .bind(&k.id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected()
            > 0;
        bump(&mut tx).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(done)
    }

    /// The key whose `by` column is `value`.
    pub(super) async fn key_where(&self, by: KeyColumn, value: &str) -> Result<Option<StoredKey>> {
        let column = match by {
            KeyColumn::Id => "id",
            KeyColumn::Digest => "digest",
        };
        // Both parts are constants of this file: nothing from a caller is formatted in.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM api_keys WHERE {column} = $1"
        )))
        .bind(value)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(key_of)
        .transpose()
    }

    pub(super) async fn key_rows(
        &self,
        limit: Option<u32>,
        before: Option<&str>,
    ) -> Result<Vec<StoredKey>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM api_keys WHERE ($1 = '' OR id < $1) ORDER BY id DESC LIMIT $2"
        )))
        .bind(before.unwrap_or(""))
        .bind(limit.map_or(i64::MAX, i64::from))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(key_of).collect()
    }

    pub(super) async fn key_epoch_row(&self) -> Result<i64> {
        let row = sqlx::query("SELECT epoch FROM api_key_epoch WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        get(&row, "epoch")
    }

    pub(super) async fn touch_key_row(&self, id: &str, at_ms: i64) -> Result<()> {
        // Not a change to what a key may do: the epoch stays.
        sqlx::query("UPDATE api_keys SET last_used_at_ms = $1 WHERE id = $2")
            .bind(at_ms)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }
}

#[async_trait]
impl KeyStore for SqlStore {
    async fn insert_key(&self, key: &StoredKey) -> Result<()> {
        self.insert_key_row(key).await
    }

    async fn update_key(&self, key: &StoredKey) -> Result<bool> {
        self.update_key_row(key).await
    }

    async fn key(&self, id: &str) -> Result<Option<StoredKey>> {
        self.key_where(KeyColumn::Id, id).await
    }

    async fn key_by_digest(&self, digest: &str) -> Result<Option<StoredKey>> {
        self.key_where(KeyColumn::Digest, digest).await
    }

    async fn keys(&self, limit: u32, before: Option<&str>) -> Result<Vec<StoredKey>> {
        self.key_rows(Some(limit), before).await
    }

    async fn all_keys(&self) -> Result<Vec<StoredKey>> {
        self.key_rows(None, None).await
    }

    async fn key_epoch(&self) -> Result<i64> {
        self.key_epoch_row().await
    }

    async fn touch_key(&self, id: &str, at_ms: i64) -> Result<()> {
        self.touch_key_row(id, at_ms).await
    }
}
