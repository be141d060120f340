//! # llm-compare-store
//!
//! Persistence: comparisons, each model's streamed text and final result, and votes. One
//! [`Store`] trait, one SQL implementation ([`SqlStore`], sqlx) over two backends chosen by
//! URL: SQLite (`sqlite://path/llm-compare.db`, embedded, WAL — the default) and PostgreSQL
//! (`postgres://…`). The schema is in `migrations/` and applied on open.
//!
//! Durability contract used by the server: a model's result is written before its
//! `model_result` event is sent, a comparison before its `complete`; streamed text is saved
//! periodically, so a process that dies leaves `running` comparisons that
//! [`Store::mark_interrupted`] turns into `interrupted` with their partial text.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use llm_compare_core::{Complete, Error, ModelResult, RequestStatus, Result, Totals};
use serde::{Deserialize, Serialize};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Row};

/// A new comparison, as registered.
#[derive(Debug, Clone, PartialEq)]
pub struct NewComparison {
    /// Its id.
    pub id: String,
    /// Who asked.
    pub owner: String,
    /// Its models, by `model_index`.
    pub models: Vec<String>,
    /// The caller's own data.
    pub metadata: Option<serde_json::Value>,
    /// Unix milliseconds.
    pub created_at_ms: i64,
}

/// One model of a stored comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredModel {
    /// Its position.
    pub model_index: usize,
    /// Its id.
    pub model: String,
    /// Its text (final, or as far as it was saved).
    pub text: String,
    /// Its result, once it finished.
    pub result: Option<ModelResult>,
}

/// A stored comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredComparison {
    /// Its id.
    pub id: String,
    /// Who asked.
    pub owner: String,
    /// Its status.
    pub status: RequestStatus,
    /// Its models, by `model_index`.
    pub models: Vec<StoredModel>,
    /// The caller's own data.
    pub metadata: Option<serde_json::Value>,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// Unix milliseconds, once finished.
    pub finished_at_ms: Option<i64>,
    /// Totals, once complete.
    pub totals: Option<Totals>,
    /// Duration, once complete.
    pub duration_ms: Option<f64>,
    /// The vote, if any.
    pub preference: Option<Vote>,
}

/// A vote on a finished comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    /// The winning `model_index`, or `"tie"`, or `"all_bad"`.
    pub winner: Winner,
    /// Free-text feedback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<String>,
}

/// Who won.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Winner {
    /// A model, by `model_index`.
    Model(usize),
    /// `"tie"` or `"all_bad"`.
    Outcome(Outcome),
}

/// The non-model outcomes of a vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// All equally good.
    Tie,
    /// None was good.
    AllBad,
}

impl Winner {
    fn to_db(&self) -> String {
        match self {
            Winner::Model(i) => i.to_string(),
            Winner::Outcome(Outcome::Tie) => "tie".into(),
            Winner::Outcome(Outcome::AllBad) => "all_bad".into(),
        }
    }

    fn from_db(s: &str) -> Self {
        match s {
            "tie" => Winner::Outcome(Outcome::Tie),
            "all_bad" => Winner::Outcome(Outcome::AllBad),
            n => Winner::Model(n.parse().unwrap_or(0)),
        }
    }
}

/// Where comparisons, results and votes live.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Records a new comparison (status `running`).
    async fn create_comparison(&self, c: &NewComparison) -> Result<()>;
    /// Saves a model's text so far (periodically while it streams).
    async fn save_progress(
        &self,
        id: &str,
        model_index: usize,
        model: &str,
        text: &str,
    ) -> Result<()>;
    /// Saves a model's final result.
    async fn save_result(&self, id: &str, result: &ModelResult) -> Result<()>;
    /// Saves the end of a comparison.
    async fn finish_comparison(&self, id: &str, complete: &Complete) -> Result<()>;
    /// A comparison of `owner` (None if unknown or another owner's).
    async fn comparison(&self, owner: &str, id: &str) -> Result<Option<StoredComparison>>;
    /// Turns every `running`/`pending` comparison into `interrupted` (on start-up: the
    /// process that ran them is gone). Returns how many.
    async fn mark_interrupted(&self) -> Result<u64>;
    /// Records `owner`'s vote: not found → [`Error::NotFound`]; not finished, or voted
    /// already → [`Error::Conflict`]; a winner out of range → [`Error::InvalidRequest`].
    async fn vote(&self, owner: &str, id: &str, vote: &Vote) -> Result<()>;
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn db_err(e: sqlx::Error) -> Error {
    Error::Internal(format!("database: {e}"))
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn status_str(s: RequestStatus) -> &'static str {
    s.as_str()
}

fn parse_status(s: &str) -> RequestStatus {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .unwrap_or(RequestStatus::Interrupted)
}

/// The SQL store (SQLite or PostgreSQL).
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    sqlite: bool,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl SqlStore {
    /// Opens (creating if needed) the database at `url` and applies the migrations.
    /// `sqlite://PATH` (created if missing; WAL) or `postgres://…`.
    pub async fn open(url: &str) -> Result<Arc<Self>> {
        install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        let url = if sqlite && !url.contains("mode=") {
            format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
        } else {
            url.to_string()
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 4 } else { 16 })
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if sqlite {
                        // WAL: readers never block the writer; NORMAL sync is durable in WAL.
                        for pragma in [
                            "PRAGMA journal_mode = WAL",
                            "PRAGMA synchronous = NORMAL",
                            "PRAGMA foreign_keys = ON",
                            "PRAGMA busy_timeout = 5000",
                        ] {
                            sqlx::query(pragma).execute(&mut *conn).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .map_err(|e| {
                Error::invalid("database_url", format!("cannot open the database: {e}"))
            })?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| Error::Internal(format!("database migrations: {e}")))?;
        Ok(Arc::new(Self { pool, sqlite }))
    }

    /// Whether this is the SQLite backend.
    pub fn is_sqlite(&self) -> bool {
        self.sqlite
    }

    /// SQLite's journal mode (`wal`); `None` on PostgreSQL.
    pub async fn journal_mode(&self) -> Result<Option<String>> {
        if !self.sqlite {
            return Ok(None);
        }
        let row = sqlx::query("PRAGMA journal_mode")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        row.try_get::<String, _>(0).map(Some).map_err(db_err)
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn create_comparison(&self, c: &NewComparison) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query("INSERT INTO comparisons (id, owner, status, models, metadata, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&c.id)
            .bind(&c.owner)
            .bind(status_str(RequestStatus::Running))
            .bind(json(&c.models))
            .bind(c.metadata.as_ref().map(json))
            .bind(c.created_at_ms)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        for (i, m) in c.models.iter().enumerate() {
            sqlx::query("INSERT INTO model_results (comparison_id, model_index, model, text, updated_at_ms) VALUES ($1, $2, $3, '', $4)")
                .bind(&c.id)
                .bind(i as i64)
                .bind(m)
                .bind(c.created_at_ms)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn save_progress(
        &self,
        id: &str,
        model_index: usize,
        _model: &str,
        text: &str,
    ) -> Result<()> {
        sqlx::query("UPDATE model_results SET text = $1, updated_at_ms = $2 WHERE comparison_id = $3 AND model_index = $4 AND result IS NULL")
            .bind(text)
            .bind(now_ms())
            .bind(id)
            .bind(model_index as i64)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn save_result(&self, id: &str, r: &ModelResult) -> Result<()> {
        sqlx::query("UPDATE model_results SET text = $1, result = $2, updated_at_ms = $3 WHERE comparison_id = $4 AND model_index = $5")
            .bind(&r.text)
            .bind(json(r))
            .bind(now_ms())
            .bind(id)
            .bind(r.model_index as i64)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn finish_comparison(&self, id: &str, c: &Complete) -> Result<()> {
        sqlx::query("UPDATE comparisons SET status = $1, finished_at_ms = $2, totals = $3, duration_ms = $4 WHERE id = $5")
            .bind(status_str(c.status))
            .bind(now_ms())
            .bind(json(&c.totals))
            .bind(c.duration_ms)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn comparison(&self, owner: &str, id: &str) -> Result<Option<StoredComparison>> {
        let Some(row) = sqlx::query("SELECT id, owner, status, metadata, created_at_ms, finished_at_ms, totals, duration_ms FROM comparisons WHERE id = $1 AND owner = $2")
            .bind(id)
            .bind(owner)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
        else {
            return Ok(None);
        };
        let models = sqlx::query("SELECT model_index, model, text, result FROM model_results WHERE comparison_id = $1 ORDER BY model_index")
            .bind(id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|m| -> Result<StoredModel> {
                let result: Option<String> = m.try_get("result").map_err(db_err)?;
                Ok(StoredModel {
                    model_index: m.try_get::<i64, _>("model_index").map_err(db_err)? as usize,
                    model: m.try_get("model").map_err(db_err)?,
                    text: m.try_get("text").map_err(db_err)?,
                    result: result.and_then(|r| serde_json::from_str(&r).ok()),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let pref = sqlx::query("SELECT winner, feedback FROM preferences WHERE comparison_id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .map(|p| -> Result<Vote> {
                let winner: String = p.try_get("winner").map_err(db_err)?;
                Ok(Vote {
                    winner: Winner::from_db(&winner),
                    feedback: p.try_get("feedback").map_err(db_err)?,
                })
            })
            .transpose()?;
        let metadata: Option<String> = row.try_get("metadata").map_err(db_err)?;
        let totals: Option<String> = row.try_get("totals").map_err(db_err)?;
        let status: String = row.try_get("status").map_err(db_err)?;
        Ok(Some(StoredComparison {
            id: row.try_get("id").map_err(db_err)?,
            owner: row.try_get("owner").map_err(db_err)?,
            status: parse_status(&status),
            models,
            metadata: metadata.and_then(|m| serde_json::from_str(&m).ok()),
            created_at_ms: row.try_get("created_at_ms").map_err(db_err)?,
            finished_at_ms: row.try_get("finished_at_ms").map_err(db_err)?,
            totals: totals.and_then(|t| serde_json::from_str(&t).ok()),
            duration_ms: row.try_get("duration_ms").map_err(db_err)?,
            preference: pref,
        }))
    }

    async fn mark_interrupted(&self) -> Result<u64> {
        let r = sqlx::query("UPDATE comparisons SET status = $1, finished_at_ms = $2 WHERE status = $3 OR status = $4")
            .bind(status_str(RequestStatus::Interrupted))
            .bind(now_ms())
            .bind(status_str(RequestStatus::Running))
            .bind(status_str(RequestStatus::Pending))
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected())
    }

    async fn vote(&self, owner: &str, id: &str, vote: &Vote) -> Result<()> {
        let Some(c) = self.comparison(owner, id).await? else {
            return Err(Error::NotFound(format!(
                "no comparison `{id}` (unknown or not yours)"
            )));
        };
        if c.status != RequestStatus::Completed && c.status != RequestStatus::Failed {
            return Err(Error::Conflict(format!(
                "the comparison is {}: vote once it has completed",
                c.status.as_str()
            )));
        }
        if let Winner::Model(i) = vote.winner
            && i >= c.models.len()
        {
            return Err(Error::invalid(
                "winner",
                format!(
                    "winner must be a model_index below {}, \"tie\" or \"all_bad\"",
                    c.models.len()
                ),
            ));
        }
        if c.preference.is_some() {
            return Err(Error::Conflict("this comparison has a vote already".into()));
        }
        let inserted = sqlx::query("INSERT INTO preferences (comparison_id, owner, winner, feedback, created_at_ms) VALUES ($1, $2, $3, $4, $5)")
            .bind(id)
            .bind(owner)
            .bind(vote.winner.to_db())
            .bind(&vote.feedback)
            .bind(now_ms())
            .execute(&self.pool)
            .await;
        match inserted {
            Ok(_) => Ok(()),
            // Two votes racing: the primary key lets one in.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(Error::Conflict("this comparison has a vote already".into()))
            }
            Err(e) => Err(db_err(e)),
        }
    }
}
