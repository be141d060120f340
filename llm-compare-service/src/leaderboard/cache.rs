//! Votes read from the store incrementally ([`VoteReader`]) and the leaderboards kept per
//! window ([`VoteCache`]), so a request folds only the votes new since the last one.

use super::*;

/// Reads votes as they are cast: each refresh reads only those since the newest seen (minus
/// a clock-skew margin) and hands over the ones it had not seen. It keeps no votes: only the
/// keys of those a refresh may read again.
#[derive(Debug, Default)]
pub struct VoteReader {
    /// The keys of the votes a refresh may read again (those inside the skew margin) and when
    /// each was cast: older ones are forgotten, so this stays small whatever the votes.
    seen: HashMap<String, i64>,
    newest_ms: Option<i64>,
}

/// How far back a refresh re-reads: votes cast by another server whose clock runs behind
/// this one still arrive.
const SKEW_MS: i64 = 10_000;

impl VoteReader {
    /// Nothing read yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The votes cast since the last refresh, oldest first (all of them the first time).
    pub async fn refresh(&mut self, store: &dyn Store) -> Result<Vec<VoteRecord>> {
        let since = self
            .newest_ms
            .map_or(i64::MIN, |t| t.saturating_sub(SKEW_MS));
        let mut new = Vec::new();
        for v in store.votes_since(since).await? {
            if self.seen.insert(v.key(), v.at_ms).is_none() {
                self.newest_ms = Some(self.newest_ms.map_or(v.at_ms, |t| t.max(v.at_ms)));
                new.push(v);
            }
        }
        if !new.is_empty()
            && let Some(newest) = self.newest_ms
        {
            // What the next refresh cannot read again needs no key.
            let horizon = newest.saturating_sub(SKEW_MS);
            self.seen.retain(|_, at| *at >= horizon);
        }
        Ok(new)
    }
}

/// A board's filter: `[from, to)` in Unix ms, the source, style control, the category.
type Window = (Option<i64>, Option<i64>, Source, bool, Option<String>);

/// The leaderboards a server serves. The plain ones (all time, no category, no style
/// control: what the leaderboard page shows first) are folded vote by vote as votes arrive,
/// one per source, so the server's memory grows with the models, not with the votes; a
/// filtered board (a time window, a category, style control) is computed from the votes read
/// from the store for it — off the lock and off the runtime's threads (a bootstrap takes
/// CPU) — and kept by its parameters ([`FILTERED_KEPT`] of them), recomputed only when votes
/// arrived. A computation is asked of the caller's guard first (a rate per user).
#[derive(Debug, Default)]
pub struct VoteCache {
    inner: tokio::sync::Mutex<CacheState>,
}

#[derive(Debug, Default)]
struct CacheState {
    reader: VoteReader,
    /// The plain boards' folds: human, judge, all.
    plain: [Fold; 3],
    /// Whether any judge's vote was seen: the plain boards' agreement then reads the store.
    judged: bool,
    last: Option<(Window, Leaderboard)>,
    /// When the last board was computed and how long that took.
    computed: Option<(std::time::Instant, std::time::Duration)>,
    /// Batches of new votes seen so far: a kept filtered board of an earlier count is stale.
    epoch: u64,
    /// Filtered boards by their parameters: the board, the epoch it saw, when it was
    /// computed and how long that took.
    filtered: HashMap<Window, Kept>,
}

#[derive(Debug, Clone)]
struct Kept {
    board: Leaderboard,
    epoch: u64,
    at: std::time::Instant,
    took: std::time::Duration,
}

/// Filtered boards kept (the least recently computed goes first).
pub const FILTERED_KEPT: usize = 64;

/// A board is recomputed for new votes at most once per this many times its own compute
/// time: with a few votes (microseconds) every read sees every vote; with 100k votes under a
/// stream of votes and reads (~50 ms a board) a board may lag by up to half a second instead
/// of every read recomputing it.
const STALE_FACTOR: u32 = 10;

impl CacheState {
    /// Folds votes cast since the last look into the plain boards; whether there were any.
    async fn catch_up(&mut self, store: &dyn Store) -> Result<bool> {
        let new = self.reader.refresh(store).await?;
        for v in &new {
            self.judged |= Source::Judge.counts(&v.source);
            for (fold, source) in
                self.plain
                    .iter_mut()
                    .zip([Source::Human, Source::Judge, Source::All])
            {
                if source.counts(&v.source) {
                    fold.saw_category(v.category.as_ref());
                    fold.add(v);
                }
            }
        }
        if !new.is_empty() {
            // Every board computed before is stale now.
            self.epoch += 1;
            self.last = None;
        }
        Ok(!new.is_empty())
    }
}

impl VoteCache {
    /// The leaderboard for votes in `[from, to)`, reading only votes not seen yet.
    pub async fn board(
        &self,
        store: &dyn Store,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
        source: Source,
        style_control: bool,
        category: Option<String>,
    ) -> Result<Leaderboard> {
        self.board_guarded(
            store,
            (from_ms, to_ms, source, style_control, category),
            || Ok(()),
        )
        .await
    }

    /// [`VoteCache::board`] of `wanted` (from, to, source, style control, category), asking
    /// `may_compute` before a filtered board is computed (not when a kept one serves).
    pub async fn board_guarded(
        &self,
        store: &dyn Store,
        wanted: (Option<i64>, Option<i64>, Source, bool, Option<String>),
        may_compute: impl FnOnce() -> Result<()>,
    ) -> Result<Leaderboard> {
        let (from_ms, to_ms, source, style_control, _) = wanted.clone();
        let plain = from_ms.is_none() && to_ms.is_none() && !style_control && wanted.4.is_none();
        if !plain {
            return self.filtered(store, wanted, may_compute).await;
        }
        let mut st = self.inner.lock().await;
        let fresh_enough = st
            .computed
            .is_some_and(|(at, took)| at.elapsed() < took * STALE_FACTOR)
            && st.last.as_ref().is_some_and(|(key, _)| *key == wanted);
        if !fresh_enough {
            st.catch_up(store).await?;
        }
        if let Some((key, board)) = &st.last
            && *key == wanted
        {
            return Ok(board.clone());
        }
        let started = std::time::Instant::now();
        let opts = Options {
            from_ms,
            to_ms,
            source,
            style_control,
            category: wanted.4.clone(),
            ..Options::default()
        };
        // Agreement pairs judges' and people's votes on the same comparisons: read from
        // the store when there are judges' votes at all (there is none without).
        let agreement = if st.judged {
            agreement(store.votes_since(i64::MIN).await?.iter())
        } else {
            None
        };
        let fold = match source {
            Source::Human => &st.plain[0],
            Source::Judge => &st.plain[1],
            Source::All => &st.plain[2],
        };
        let board = fold.board(&opts, agreement);
        st.last = Some((wanted, board.clone()));
        st.computed = Some((std::time::Instant::now(), started.elapsed()));
        Ok(board)
    }

    /// A filtered board: kept, or computed without holding the cache's lock.
    async fn filtered(
        &self,
        store: &dyn Store,
        wanted: Window,
        may_compute: impl FnOnce() -> Result<()>,
    ) -> Result<Leaderboard> {
        let epoch = {
            let mut st = self.inner.lock().await;
            let kept = st.filtered.get(&wanted).cloned();
            // Votes came since? Only look when the kept board is older than its own cost
            // allows (as the plain boards do).
            let stale = kept
                .as_ref()
                .is_none_or(|k| k.at.elapsed() >= k.took * STALE_FACTOR);
            if stale {
                st.catch_up(store).await?;
            }
            if let Some(k) = kept
                && k.epoch == st.epoch
            {
                return Ok(k.board);
            }
            st.epoch
        };
        may_compute()?;
        let started = std::time::Instant::now();
        let (from_ms, to_ms, source, style_control, category) = wanted.clone();
        let opts = Options {
            from_ms,
            to_ms,
            source,
            style_control,
            category,
            ..Options::default()
        };
        let votes = store.votes_since(from_ms.unwrap_or(i64::MIN)).await?;
        let board = tokio::task::spawn_blocking(move || compute(&votes, &opts))
            .await
            .map_err(|e| {
                llm_compare_core::Error::Internal(format!(
                    "the leaderboard's computation failed: {e}"
                ))
            })?;
        let mut st = self.inner.lock().await;
        if st.filtered.len() >= FILTERED_KEPT
            && !st.filtered.contains_key(&wanted)
            && let Some(oldest) = st
                .filtered
                .iter()
                .min_by_key(|(_, k)| k.at)
                .map(|(w, _)| w.clone())
        {
            st.filtered.remove(&oldest);
        }
        st.filtered.insert(
            wanted,
            Kept {
                board: board.clone(),
                epoch,
                at: std::time::Instant::now(),
                took: started.elapsed(),
            },
        );
        Ok(board)
    }

    /// Forgets every vote (after a deletion): the next request reads them all again.
    pub async fn invalidate(&self) {
        let mut st = self.inner.lock().await;
        *st = CacheState::default();
    }
}
