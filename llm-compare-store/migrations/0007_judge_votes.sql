-- An LLM judge's pairwise verdicts on a comparison's answers (evaluation runs): one row per
-- (comparison, judge, pair), `winner` 'a', 'b' or 'tie'. Votes of their own kind beside the
-- human votes in `preferences`: the leaderboard reads either or both (`source`).
CREATE TABLE IF NOT EXISTS judge_votes (
    comparison_id TEXT NOT NULL REFERENCES comparisons (id) ON DELETE CASCADE,
    judge         TEXT NOT NULL,
    a_index       INTEGER NOT NULL,
    b_index       INTEGER NOT NULL,
    winner        TEXT NOT NULL,
    reason        TEXT,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (comparison_id, judge, a_index, b_index)
);
CREATE INDEX IF NOT EXISTS judge_votes_created ON judge_votes (created_at_ms);
