//! [`SessionStore`] in SQL.

use async_trait::async_trait;
use llm_compare_core::Result;

use super::decode::{db_err, get, json, parse_json, summary};
use super::{Scope, SqlStore};
use crate::group::Op;
use crate::{NewSession, ResponseThread, SessionStore, SessionSummary, StoredSession, Write};

#[async_trait]
impl SessionStore for SqlStore {
    async fn create_session(&self, s: &NewSession) -> Result<()> {
        sqlx::query("INSERT INTO sessions (id, owner, title, models, system, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&s.id)
            .bind(&s.owner)
            .bind(&s.title)
            .bind(json(&s.models))
            .bind(&s.system)
            .bind(s.created_at_ms)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn sessions(
        &self,
        owner: &str,
        limit: u32,
        before: Option<&str>,
    ) -> Result<Vec<SessionSummary>> {
        // UUIDv7 ids sort by creation time: the id is the cursor.
        let rows = sqlx::query(
            "SELECT s.id, s.title, s.models, s.system, s.created_at_ms, \
             (SELECT COUNT(*) FROM comparisons c WHERE c.session_id = s.id) AS turns \
             FROM sessions s WHERE s.owner = $1 AND ($2 = '' OR s.id < $2) ORDER BY s.id DESC LIMIT $3",
        )
        .bind(owner)
        .bind(before.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(summary).collect()
    }

    async fn session(&self, owner: &str, id: &str) -> Result<Option<StoredSession>> {
        let Some(row) = sqlx::query(
            "SELECT s.id, s.title, s.models, s.system, s.created_at_ms, \
             (SELECT COUNT(*) FROM comparisons c WHERE c.session_id = s.id) AS turns \
             FROM sessions s WHERE s.id = $1 AND s.owner = $2",
        )
        .bind(id)
        .bind(owner)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        else {
            return Ok(None);
        };
        let turns = self
            .load(Scope::Session {
                owner,
                session_id: id,
            })
            .await?;
        Ok(Some(StoredSession {
            summary: summary(&row)?,
            turns,
        }))
    }

    async fn delete_session(&self, owner: &str, id: &str) -> Result<bool> {
        let mut tx = self.begin().await?;
        // Running turns hold budget; the caller cancels them first, their results settle.
        let r = sqlx::query("DELETE FROM sessions WHERE id = $1 AND owner = $2")
            .bind(id)
            .bind(owner)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        // The owner's attachments none of their comparisons refers to any more stop counting
        // against them; attachments no comparison refers to go with it.
        sqlx::query(
            "DELETE FROM attachment_owners WHERE owner = $1 AND NOT EXISTS (SELECT 1 FROM comparisons c \
             WHERE c.owner = $1 AND c.attachments IS NOT NULL \
             AND c.attachments LIKE '%' || attachment_owners.sha256 || '%')",
        )
        .bind(owner)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        for sql in [
            "DELETE FROM attachments WHERE NOT EXISTS (SELECT 1 FROM comparisons c \
             WHERE c.attachments IS NOT NULL AND c.attachments LIKE '%' || attachments.sha256 || '%')",
            "DELETE FROM attachment_chunks WHERE NOT EXISTS \
             (SELECT 1 FROM attachments a WHERE a.sha256 = attachment_chunks.sha256)",
        ] {
            sqlx::query(sql).execute(&mut *tx).await.map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }

    async fn save_thread(&self, t: &ResponseThread) -> Result<()> {
        self.group
            .run(Op::Writes(vec![Write::Thread(Box::new(t.clone()))]))
            .await
    }

    async fn thread(&self, owner: &str, id: &str) -> Result<Option<ResponseThread>> {
        let Some(row) = sqlx::query(
            "SELECT comparison_id, model, messages, response, created_at_ms \
             FROM response_threads WHERE id = $1 AND owner = $2",
        )
        .bind(id)
        .bind(owner)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        else {
            return Ok(None);
        };
        let messages: String = get(&row, "messages")?;
        let response: String = get(&row, "response")?;
        Ok(Some(ResponseThread {
            id: id.to_string(),
            owner: owner.to_string(),
            comparison_id: get(&row, "comparison_id")?,
            model: get(&row, "model")?,
            messages: parse_json("response_threads", id, "messages", &messages)?,
            response: parse_json("response_threads", id, "response", &response)?,
            created_at_ms: get(&row, "created_at_ms")?,
        }))
    }
}

impl SqlStore {
    /// Writes `threads` in `tx` (each replacing one of the same id: delete then insert, one
    /// statement pair for both databases).
    pub(super) async fn save_threads_in(
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        threads: &[&ResponseThread],
    ) -> Result<()> {
        for t in threads {
            sqlx::query("DELETE FROM response_threads WHERE id = $1")
                .bind(&t.id)
                .execute(&mut **tx)
                .await
                .map_err(db_err)?;
            sqlx::query(
                "INSERT INTO response_threads (id, owner, comparison_id, model, messages, response, created_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&t.id)
            .bind(&t.owner)
            .bind(&t.comparison_id)
            .bind(&t.model)
            .bind(json(&t.messages))
            .bind(json(&t.response))
            .bind(t.created_at_ms)
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
        }
        Ok(())
    }
}
