//! Votes and the leaderboard they feed.

use llm_compare_core::Result;

use crate::Vote;
use crate::leaderboard::Leaderboard;

use super::Service;
use super::bodies::VoteBody;

impl Service {
    /// Records `owner`'s vote on finished comparison `id`.
    pub async fn vote(&self, owner: &str, id: &str, vote: &VoteBody) -> Result<()> {
        let store = self.store_for("votes need")?;
        store
            .vote(
                owner,
                id,
                &Vote {
                    winner: vote.winner.clone(),
                    feedback: vote.feedback.clone(),
                },
            )
            .await
    }

    /// Every owner's votes as a ranking, for votes cast in `[from_ms, to_ms)`.
    pub async fn leaderboard(
        &self,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
    ) -> Result<Leaderboard> {
        self.leaderboard_of(
            from_ms,
            to_ms,
            crate::leaderboard::Source::Human,
            false,
            None,
        )
        .await
    }

    /// The leaderboard of `source`'s votes (people's, judges', or both) cast in
    /// `[from_ms, to_ms)` on comparisons of `category` (any without), with the judge–human
    /// agreement; with `style_control`, ratings with the effect of answer length and
    /// markdown removed.
    pub async fn leaderboard_of(
        &self,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
        source: crate::leaderboard::Source,
        style_control: bool,
        category: Option<String>,
    ) -> Result<Leaderboard> {
        let store = self.store_for("the leaderboard needs")?;
        self.votes
            .board(&**store, from_ms, to_ms, source, style_control, category)
            .await
    }

    /// [`Service::leaderboard_of`], asking `may_compute` before a filtered board is
    /// computed (a kept one is served without asking): the HTTP layer's rate per user.
    pub async fn leaderboard_guarded(
        &self,
        filter: (
            Option<i64>,
            Option<i64>,
            crate::leaderboard::Source,
            bool,
            Option<String>,
        ),
        may_compute: impl FnOnce() -> Result<()>,
    ) -> Result<Leaderboard> {
        let store = self.store_for("the leaderboard needs")?;
        self.votes
            .board_guarded(&**store, filter, may_compute)
            .await
    }
}
