//! [`SqlStore`]: the [`Store`] over sqlx's `Any` driver, one schema and one set of queries for
//! SQLite and PostgreSQL (TEXT ids and JSON documents, BIGINT Unix ms, `$n` parameters).
//!
//! One file per role of the store (comparisons, sessions, votes, evals, usage, keys), the
//! writes they share (`writes`), the batch SQL builder and group-commit applier (`batch`),
//! SQLite's WAL checkpointer (`wal`) and row decoding and error mapping (`decode`).

mod batch;
mod comparisons;
mod decode;
mod evals;
mod keys;
mod sessions;
mod usage;
mod votes;
mod wal;
mod writes;

pub(crate) use decode::corrupt;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use llm_compare_core::{Error, Result};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{Any, AnyPool, Row, Transaction};

use crate::Store;
use crate::group::GroupCommit;
use batch::Batches;
use decode::db_err;
use wal::{BUSY_TIMEOUT, Checkpoints, WAL_SIZE_LIMIT, WalLimits, WalRewind};

/// Which comparisons a load is for.
enum Scope<'a> {
    One { owner: &'a str, id: &'a str },
    Session { owner: &'a str, session_id: &'a str },
}

impl Scope<'_> {
    /// The WHERE clause on comparisons `c` (a fixed string: values are bound) and its two
    /// parameters.
    fn clause(&self) -> (&'static str, &str, &str) {
        match self {
            Scope::One { owner, id } => ("c.id = $1 AND c.owner = $2", id, owner),
            Scope::Session { owner, session_id } => {
                ("c.session_id = $1 AND c.owner = $2", session_id, owner)
            }
        }
    }
}

/// The SQL store (SQLite or PostgreSQL).
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    sqlite: bool,
    /// The writer tasks that group-commit the comparison writes.
    group: GroupCommit,
    /// SQLite: the task that checkpoints the WAL (stopped with the last clone).
    _checkpoints: Option<Arc<Checkpoints>>,
}

/// Begins a transaction that will write. On SQLite it takes the write lock first (`BEGIN
/// IMMEDIATE`), waiting for it up to the busy timeout: a deferred transaction that reads and
/// then writes fails at once with `SQLITE_BUSY` / `SQLITE_BUSY_SNAPSHOT` when another
/// connection wrote in between — the busy handler is not consulted for that upgrade.
async fn begin_write(pool: &AnyPool, sqlite: bool) -> Result<Transaction<'static, Any>> {
    if sqlite {
        pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)
    } else {
        pool.begin().await.map_err(db_err)
    }
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl SqlStore {
    /// Opens (creating if needed) the database at `url` and applies the migrations.
    /// `sqlite://PATH` (created if missing; WAL) or `postgres://…`.
    pub async fn open(url: &str) -> Result<Arc<Self>> {
        Self::open_with(url, WalLimits::default()).await
    }

    async fn open_with(url: &str, wal: WalLimits) -> Result<Arc<Self>> {
        install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        let url = if sqlite && !url.contains("mode=") {
            format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
        } else {
            url.to_string()
        };
        // A URL that cannot be right is the caller's to fix; a database that does not answer
        // may answer later.
        let cannot_open = |e: sqlx::Error| match e {
            sqlx::Error::Configuration(_) => {
                Error::invalid("database_url", format!("cannot open the database: {e}"))
            }
            other => Error::Unavailable {
                message: format!("cannot open the database: {other}"),
                retry_after: Some(std::time::Duration::from_secs(1)),
            },
        };
        if !sqlite {
            // One plain attempt first: a server that is down or refuses us fails now, with
            // its reason, instead of after the pool's 30 s of retries.
            let conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
                .await
                .map_err(cannot_open)?;
            let _ = sqlx::Connection::close(conn).await;
        }
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 4 } else { 16 })
            // A database that is down must answer `unavailable` within 2 s, not hang a request
            // for sqlx's default 30 s; SQLite (a local file) only waits for a busy pool.
            .acquire_timeout(if sqlite {
                std::time::Duration::from_secs(10)
            } else {
                std::time::Duration::from_millis(1500)
            })
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if sqlite {
                        // WAL: readers never block the writer; NORMAL sync is durable in WAL.
                        for pragma in [
                            "PRAGMA journal_mode = WAL",
                            "PRAGMA synchronous = NORMAL",
                            "PRAGMA foreign_keys = ON",
                            BUSY_TIMEOUT,
                            // Checkpoints run on their own task (`Checkpoints`).
                            "PRAGMA wal_autocheckpoint = 0",
                            WAL_SIZE_LIMIT,
                        ] {
                            sqlx::query(pragma).execute(&mut *conn).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .map_err(cannot_open)?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| Error::Internal(format!("database migrations: {e}")))?;
        let rewind = sqlite.then(|| Arc::new(WalRewind::new(&wal)));
        // SQLite takes one writer at a time; PostgreSQL's transactions run side by side.
        let group = GroupCommit::start(
            Batches {
                pool: pool.clone(),
                rewind: rewind.clone(),
            },
            if sqlite { 1 } else { 4 },
        );
        let checkpoints = rewind.map(|r| Arc::new(Checkpoints::start(pool.clone(), wal, r)));
        Ok(Arc::new(Self {
            pool,
            sqlite,
            group,
            _checkpoints: checkpoints,
        }))
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

    async fn begin(&self) -> Result<Transaction<'static, Any>> {
        begin_write(&self.pool, self.sqlite).await
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }
}
