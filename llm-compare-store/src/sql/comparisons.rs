//! [`ComparisonStore`] in SQL: comparisons, their results and attachments.

use std::collections::HashMap;

use async_trait::async_trait;
use llm_compare_core::{Complete, ModelResult, RequestStatus, Result, now_ms};
use sqlx::{AssertSqlSafe, Row};

use super::decode::{corrupt, db_err, get, parse_json, parse_json_opt, parse_status};
use super::{Scope, SqlStore};
use crate::group::Op;
use crate::{
    AttachmentRef, ComparisonKind, ComparisonStore, ComparisonSummary, Interrupted, NewComparison,
    StoredAttachment, StoredComparison, StoredModel, Vote, Winner, Write,
};

impl SqlStore {
    /// Comparisons in `scope` with their models and votes, oldest first: three queries
    /// whatever their number.
    pub(super) async fn load(&self, scope: Scope<'_>) -> Result<Vec<StoredComparison>> {
        let (clause, a, b) = scope.clause();
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT c.id, c.owner, c.status, c.metadata, c.created_at_ms, c.finished_at_ms, c.totals, \
             c.duration_ms, c.session_id, c.prompt, c.blind, c.attachments, c.category, c.tags FROM comparisons c WHERE {clause} \
             ORDER BY c.created_at_ms, c.id"
        )))
        .bind(a)
        .bind(b)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let mut out = Vec::with_capacity(rows.len());
        let mut index = HashMap::new();
        for row in rows {
            let metadata: Option<String> = get(&row, "metadata")?;
            let totals: Option<String> = get(&row, "totals")?;
            let status: String = get(&row, "status")?;
            let id: String = get(&row, "id")?;
            let attachments: Option<String> = get(&row, "attachments")?;
            let tags: Option<String> = get(&row, "tags")?;
            index.insert(id.clone(), out.len());
            out.push(StoredComparison {
                owner: get(&row, "owner")?,
                status: parse_status("comparisons", &id, &status)?,
                models: Vec::new(),
                metadata: parse_json_opt("comparisons", &id, "metadata", metadata)?,
                created_at_ms: get(&row, "created_at_ms")?,
                finished_at_ms: get(&row, "finished_at_ms")?,
                totals: parse_json_opt("comparisons", &id, "totals", totals)?,
                duration_ms: get(&row, "duration_ms")?,
                preference: None,
                session_id: get(&row, "session_id")?,
                prompt: get(&row, "prompt")?,
                blind: get::<i64>(&row, "blind")? != 0,
                attachments: parse_json_opt::<Vec<AttachmentRef>>(
                    "comparisons",
                    &id,
                    "attachments",
                    attachments,
                )?
                .unwrap_or_default(),
                category: get(&row, "category")?,
                tags: parse_json_opt::<Vec<String>>("comparisons", &id, "tags", tags)?
                    .unwrap_or_default(),
                id,
            });
        }
        if out.is_empty() {
            return Ok(out);
        }
        let models = sqlx::query(AssertSqlSafe(format!(
            "SELECT m.comparison_id, m.model_index, m.model, m.text, m.result FROM model_results m \
             JOIN comparisons c ON c.id = m.comparison_id WHERE {clause} ORDER BY m.model_index"
        )))
        .bind(a)
        .bind(b)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        for m in models {
            let cid: String = get(&m, "comparison_id")?;
            let result: Option<String> = get(&m, "result")?;
            if let Some(c) = index.get(&cid).and_then(|&i| out.get_mut(i)) {
                c.models.push(StoredModel {
                    model_index: get::<i64>(&m, "model_index")? as usize,
                    model: get(&m, "model")?,
                    text: get(&m, "text")?,
                    result: parse_json_opt("model_results", &cid, "result", result)?,
                });
            }
        }
        let prefs = sqlx::query(AssertSqlSafe(format!(
            "SELECT p.comparison_id, p.winner, p.feedback FROM preferences p \
             JOIN comparisons c ON c.id = p.comparison_id WHERE {clause}"
        )))
        .bind(a)
        .bind(b)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        for p in prefs {
            let cid: String = get(&p, "comparison_id")?;
            let winner: String = get(&p, "winner")?;
            if let Some(c) = index.get(&cid).and_then(|&i| out.get_mut(i)) {
                c.preference = Some(Vote {
                    winner: Winner::from_db(&cid, &winner)?,
                    feedback: get(&p, "feedback")?,
                });
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl ComparisonStore for SqlStore {
    async fn create_comparison(&self, c: &NewComparison) -> Result<()> {
        self.group
            .run(Op::Writes(vec![Write::Create(Box::new(c.clone()))]))
            .await
    }

    async fn write_batch(&self, writes: &[Write]) -> Result<()> {
        self.group.run(Op::Writes(writes.to_vec())).await
    }

    async fn discard_comparison(&self, id: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        Self::settle(&mut tx, id, None, 0).await?;
        sqlx::query("DELETE FROM comparisons WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn save_progress(
        &self,
        id: &str,
        model_index: usize,
        _model: &str,
        text: &str,
    ) -> Result<()> {
        self.group
            .run(Op::Progress {
                id: id.to_string(),
                model_index,
                text: text.to_string(),
            })
            .await
    }

    async fn save_result(&self, id: &str, r: &ModelResult) -> Result<()> {
        self.group
            .run(Op::Writes(vec![Write::Result {
                id: id.to_string(),
                result: Box::new(r.clone()),
            }]))
            .await
    }

    async fn finish_comparison(&self, id: &str, c: &Complete) -> Result<()> {
        self.group
            .run(Op::Writes(vec![Write::Finish {
                id: id.to_string(),
                complete: Box::new(c.clone()),
            }]))
            .await
    }

    async fn comparison(&self, owner: &str, id: &str) -> Result<Option<StoredComparison>> {
        Ok(self.load(Scope::One { owner, id }).await?.pop())
    }

    async fn mark_interrupted(&self, instance: &str) -> Result<Vec<Interrupted>> {
        let mut tx = self.begin().await?;
        let stale = "(status = $1 OR status = $2) AND instance = $3";
        // Held amounts stay committed: an interrupted call may have been charged upstream.
        sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM budget_reservations WHERE comparison_id IN (SELECT id FROM comparisons WHERE {stale})"
        )))
        .bind(RequestStatus::Running.as_str())
        .bind(RequestStatus::Pending.as_str())
        .bind(instance)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let rows = sqlx::query(AssertSqlSafe(format!(
            "UPDATE comparisons SET status = $4, finished_at_ms = $5 WHERE {stale} RETURNING owner, id"
        )))
        .bind(RequestStatus::Running.as_str())
        .bind(RequestStatus::Pending.as_str())
        .bind(instance)
        .bind(RequestStatus::Interrupted.as_str())
        .bind(now_ms())
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        let ended = rows
            .iter()
            .map(|r| {
                Ok(Interrupted {
                    owner: r.try_get("owner").map_err(db_err)?,
                    id: r.try_get("id").map_err(db_err)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        tx.commit().await.map_err(db_err)?;
        Ok(ended)
    }

    async fn comparisons(
        &self,
        owner: &str,
        limit: u32,
        before: Option<&str>,
    ) -> Result<Vec<ComparisonSummary>> {
        // UUIDv7 ids sort by creation time: the id is the cursor.
        let rows = sqlx::query(
            "SELECT c.id, c.status, c.models, c.prompt, c.created_at_ms, c.blind, c.kind, \
             (SELECT COUNT(*) FROM preferences p WHERE p.comparison_id = c.id) AS votes \
             FROM comparisons c WHERE c.owner = $1 AND c.session_id IS NULL AND c.kind <> 'judge' \
             AND ($2 = '' OR c.id < $2) ORDER BY c.id DESC LIMIT $3",
        )
        .bind(owner)
        .bind(before.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                let id: String = get(row, "id")?;
                let models: String = get(row, "models")?;
                let mut models: Vec<String> = parse_json("comparisons", &id, "models", &models)?;
                let status: String = get(row, "status")?;
                let kind: String = get(row, "kind")?;
                let prompt: Option<String> = get(row, "prompt")?;
                let blind = get::<i64>(row, "blind")? != 0;
                let voted = get::<i64>(row, "votes")? > 0;
                if blind && !voted {
                    for (i, m) in models.iter_mut().enumerate() {
                        *m = llm_compare_core::blind_label(i);
                    }
                }
                Ok(ComparisonSummary {
                    status: parse_status("comparisons", &id, &status)?,
                    kind: ComparisonKind::parse(&kind).ok_or_else(|| {
                        corrupt("comparisons", &id, format!("unknown kind `{kind}`"))
                    })?,
                    id,
                    models,
                    prompt: prompt.map(|p| p.chars().take(200).collect()),
                    created_at_ms: get(row, "created_at_ms")?,
                    blind,
                    voted,
                })
            })
            .collect()
    }

    async fn attachment_bytes(&self, owner: &str) -> Result<u64> {
        let total: Option<i64> = sqlx::query_scalar(
            "SELECT CAST(SUM(size) AS BIGINT) FROM attachment_owners WHERE owner = $1",
        )
        .bind(owner)
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(u64::try_from(total.unwrap_or(0)).unwrap_or(0))
    }

    async fn attachment(&self, sha256: &str) -> Result<Option<StoredAttachment>> {
        let Some(row) = sqlx::query("SELECT media_type, size FROM attachments WHERE sha256 = $1")
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
        else {
            return Ok(None);
        };
        let size: i64 = get(&row, "size")?;
        let chunks =
            sqlx::query("SELECT data FROM attachment_chunks WHERE sha256 = $1 ORDER BY seq")
                .bind(sha256)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
        let mut data = String::with_capacity(usize::try_from(size).unwrap_or(0).div_ceil(3) * 4);
        for c in &chunks {
            data.push_str(&get::<String>(c, "data")?);
        }
        // Strictly: the pieces must add up to the bytes that were stored.
        if data.len() != usize::try_from(size).unwrap_or(0).div_ceil(3) * 4 {
            return Err(crate::sql::corrupt(
                "attachments",
                sha256,
                format!("{} base64 characters stored for {size} bytes", data.len()),
            ));
        }
        Ok(Some(StoredAttachment {
            media_type: get(&row, "media_type")?,
            data: data.into(),
        }))
    }
}
