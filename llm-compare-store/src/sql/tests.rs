//! Tests of the SQL store's internals (the behaviour is tested in tests/store.rs).

use std::sync::Arc;

use llm_compare_core::{Complete, ModelResult, RequestStatus};

use super::SqlStore;
use super::batch::{SQLITE_ROWS, row_chunks, typed_values, values, wholes};
use super::wal::{Checkpoints, WalLimits, WalRewind};
use crate::{ComparisonStore, NewComparison, Write};

#[test]
fn sqlite_statements_come_in_few_sizes_and_cover_every_row() {
    let mut sizes = std::collections::BTreeSet::new();
    for rows in 0..=700 {
        let chunks = row_chunks(rows, true);
        let mut next = 0;
        for c in &chunks {
            assert_eq!(c.start, next, "{rows} rows: contiguous");
            let size = c.len();
            assert!(
                size.is_power_of_two() && size <= SQLITE_ROWS,
                "{rows}: {size}"
            );
            sizes.insert(size);
            next = c.end;
        }
        assert_eq!(next, rows, "{rows} rows: all covered");
        // Largest first, so the count stays logarithmic below SQLITE_ROWS.
        assert!(chunks.len() <= rows / SQLITE_ROWS + 7, "{rows}: {chunks:?}");
        assert_eq!(
            row_chunks(rows, false),
            (rows > 0)
                .then_some(0..rows)
                .into_iter()
                .collect::<Vec<_>>(),
            "PostgreSQL: one statement"
        );
    }
    // Seven statement texts per kind of write, whatever the batches.
    assert_eq!(
        sizes.into_iter().collect::<Vec<_>>(),
        [1, 2, 4, 8, 16, 32, 64]
    );
    assert_eq!(row_chunks(13, true), [0..8, 8..12, 12..13]);
}

fn create(id: &str, held: bool) -> Write {
    Write::Create(Box::new(NewComparison {
        id: id.into(),
        models: vec!["sim/echo".into()],
        reservation: held.then(|| crate::Reservation {
            account: None,
            limit_pico: 1,
            period_start_ms: 0,
            per_model_pico: vec![1],
        }),
        ..NewComparison::default()
    }))
}

fn result(id: &str) -> Write {
    Write::Result {
        id: id.into(),
        result: Box::new(ModelResult {
            model_index: 0,
            model: "sim/echo".into(),
            text: String::new(),
            reasoning: String::new(),
            tool_calls: vec![],
            finish_reason: None,
            raw_finish_reason: None,
            partial: false,
            usage: llm_compare_core::Usage::default(),
            cost: llm_compare_core::Cost::default(),
            timing: llm_compare_core::Timing::default(),
            error: None,
            served_by: None,
            attempts: vec![],
            history_trimmed: 0,
            structured: None,
            steps: 0,
            exchange: vec![],
        }),
    }
}

fn finish(id: &str) -> Write {
    Write::Finish {
        id: id.into(),
        complete: Box::new(Complete {
            request_id: id.into(),
            status: RequestStatus::Completed,
            results: vec![],
            totals: llm_compare_core::Totals::default(),
            duration_ms: 1.0,
        }),
    }
}

/// Writes 8 MB of pages while overlapping readers keep a WAL snapshot open at every
/// moment (steady traffic); returns the largest WAL file seen. The store's own checkpoint
/// task runs too; `restart_frames` is the extra one's RESTART threshold (`i64::MAX`:
/// never).
pub(super) async fn largest_wal_under_steady_reads(restart_frames: i64) -> u64 {
    let dir = std::env::temp_dir().join(format!("llmc-wal-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("t.db");
    let store = SqlStore::open(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let pool = store.pool.clone();
    // Only its fallback: these writes do not go through the group-commit writer.
    // Waits long enough for a reader however loaded the machine: this checks that the
    // WAL starts over, not how fast.
    let limits = WalLimits {
        restart_frames: i64::MAX,
        fallback_frames: restart_frames,
        period: std::time::Duration::from_millis(20),
        fallback_wait: std::time::Duration::from_millis(500),
        ..WalLimits::default()
    };
    let _extra = Checkpoints::start(pool.clone(), limits, Arc::new(WalRewind::new(&limits)));
    sqlx::query("CREATE TABLE filler (x BLOB)")
        .execute(&pool)
        .await
        .unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..2u64)
        .map(|i| {
            let (pool, stop) = (pool.clone(), stop.clone());
            tokio::spawn(async move {
                // Staggered: one of the two always holds a snapshot.
                tokio::time::sleep(std::time::Duration::from_millis(5 * i)).await;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let mut tx = pool.begin().await.unwrap();
                    sqlx::query("SELECT count(*) FROM filler")
                        .fetch_one(&mut *tx)
                        .await
                        .unwrap();
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    tx.commit().await.unwrap();
                }
            })
        })
        .collect();
    let wal = dir.join("t.db-wal");
    let mut largest = 0;
    for i in 0..2_000 {
        sqlx::query("INSERT INTO filler (x) VALUES (zeroblob(4000))")
            .execute(&pool)
            .await
            .unwrap();
        largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
        if i % 20 == 0 {
            // A writer that never lets go of the lock starves the RESTART on a loaded
            // machine (its busy handler sleeps, the inserts do not); the server's writes
            // come in batches with gaps.
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        r.await.unwrap();
    }
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    largest
}

/// Comparisons of ~4 KB each, created by 16 callers at once so the group-commit writer is
/// never idle, while short reads run beside them; returns the largest WAL file seen.
pub(super) async fn largest_wal_under_group_commits(limits: WalLimits) -> u64 {
    let dir = std::env::temp_dir().join(format!("llmc-wal-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("t.db");
    let store = SqlStore::open_with(&format!("sqlite://{}", db.display()), limits)
        .await
        .unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = tokio::spawn({
        let (pool, stop) = (store.pool.clone(), stop.clone());
        async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                sqlx::query("SELECT count(*) FROM comparisons")
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            }
        }
    });
    let wal = dir.join("t.db-wal");
    let largest = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let (store, wal, largest) = (store.clone(), wal.clone(), largest.clone());
            tokio::spawn(async move {
                for i in 0..150 {
                    let c = NewComparison {
                        id: format!("c{w}-{i}"),
                        models: vec!["sim/echo".into()],
                        prompt: Some("x".repeat(4000)),
                        ..NewComparison::default()
                    };
                    store
                        .write_batch(&[Write::Create(Box::new(c))])
                        .await
                        .unwrap();
                    let len = std::fs::metadata(&wal).map_or(0, |m| m.len());
                    largest.fetch_max(len, std::sync::atomic::Ordering::Relaxed);
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    reader.await.unwrap();
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    largest.load(std::sync::atomic::Ordering::Relaxed)
}

/// One test, so its two scenarios (each loading the machine) do not run side by side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(super) async fn the_wal_starts_over() {
    // 1. The checkpoint task's RESTART, when readers always hold a WAL snapshot. The
    // scenario starves PASSIVE checkpoints: without a restart the WAL keeps every page
    // written (2,000 × 4 KiB and more).
    let starved = largest_wal_under_steady_reads(i64::MAX).await;
    assert!(
        starved > 8 << 20,
        "the scenario did not starve the WAL: {starved} bytes"
    );
    // With restarts past 200 frames, it stays a fraction of that.
    let bounded = largest_wal_under_steady_reads(200).await;
    assert!(bounded < 4 << 20, "the WAL grew to {bounded} bytes");

    // 2. The group-commit writer's rewinds between batches.
    // Rewinds are asked for often and may wait for a (descheduled) reader: this checks
    // that the writer keeps the WAL short, not how fast.
    let often = WalLimits {
        period: std::time::Duration::from_millis(20),
        writer_retry: std::time::Duration::from_millis(10),
        writer_wait: std::time::Duration::from_millis(200),
        ..WalLimits::default()
    };
    // 2,400 comparisons of ~4 KB and their index pages. With no rewind (no fallback
    // either) the WAL keeps them all.
    let never = largest_wal_under_group_commits(WalLimits {
        restart_frames: i64::MAX,
        fallback_frames: i64::MAX,
        ..often
    })
    .await;
    // With the writer rewinding it past 200 frames (and no RESTART fallback), it stays a
    // fraction of that.
    let rewound = largest_wal_under_group_commits(WalLimits {
        restart_frames: 200,
        fallback_frames: i64::MAX,
        ..often
    })
    .await;
    eprintln!(
        "largest WAL: starved {starved} B, restarted {bounded} B; never rewound {never} B, \
         rewound by the writer {rewound} B"
    );
    assert!(never > 8 << 20, "the WAL was rewound anyway: {never} bytes");
    // ~2.4 MB against ~27 MB on an idle machine; on a loaded one (a build beside it) the
    // rewinds come later and some wait for a reader: 4–12 MB seen.
    assert!(
        rewound < never / 2,
        "the WAL grew to {rewound} bytes ({never} without rewinds)"
    );
}

#[test]
fn a_batch_splits_into_whole_comparisons_and_the_rest() {
    let batch = vec![
        create("a", false),
        result("x"),
        result("a"),
        create("held", true),
        finish("a"),
        result("held"),
        finish("held"),
        create("open", false),
        finish("x"),
    ];
    let batch: Vec<&Write> = batch.iter().collect();
    let (whole, rest) = wholes(&batch);
    assert_eq!(whole.len(), 1);
    assert_eq!(whole[0].create.id, "a");
    assert_eq!(whole[0].results.len(), 1);
    // A held one, one never finished here, and writes for stored ones stay as they are,
    // in order.
    let ids: Vec<&str> = rest.iter().map(|w| w.comparison_id()).collect();
    assert_eq!(ids, ["x", "held", "held", "held", "open", "x"]);
}

#[test]
fn placeholders_number_every_parameter() {
    let mut sql = String::new();
    values(&mut sql, 2, 3, false);
    assert_eq!(sql, "($1, $2, $3), ($4, $5, $6)");
    let mut sql = String::new();
    values(&mut sql, 2, 2, true);
    assert_eq!(sql, "(?, ?), (?, ?)");
    let mut sql = String::new();
    typed_values(&mut sql, 2, &["TEXT", "BIGINT"], false);
    assert_eq!(
        sql,
        "(CAST($1 AS TEXT), CAST($2 AS BIGINT)), (CAST($3 AS TEXT), CAST($4 AS BIGINT))"
    );
}
