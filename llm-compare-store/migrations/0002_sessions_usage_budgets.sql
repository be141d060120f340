-- Sessions and their turns, the usage ledger, budget reservations, blind comparisons, and
-- the server instance that ran each comparison (so a restart marks only its own as
-- interrupted when several servers share one database). One file for SQLite and PostgreSQL.
CREATE TABLE IF NOT EXISTS sessions (
    id            TEXT PRIMARY KEY,
    owner         TEXT NOT NULL,
    title         TEXT,
    models        TEXT NOT NULL,
    system        TEXT,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_owner_id ON sessions (owner, id);

ALTER TABLE comparisons ADD COLUMN session_id TEXT REFERENCES sessions (id) ON DELETE CASCADE;
ALTER TABLE comparisons ADD COLUMN prompt TEXT;
ALTER TABLE comparisons ADD COLUMN blind INTEGER NOT NULL DEFAULT 0;
ALTER TABLE comparisons ADD COLUMN instance TEXT NOT NULL DEFAULT '';
CREATE INDEX IF NOT EXISTS comparisons_session ON comparisons (session_id, created_at_ms);

-- Per-model figures the leaderboard averages, out of the result document.
ALTER TABLE model_results ADD COLUMN ttft_ms DOUBLE PRECISION;
ALTER TABLE model_results ADD COLUMN cost_pico BIGINT;

CREATE INDEX IF NOT EXISTS preferences_created ON preferences (created_at_ms);

-- What each model call cost, kept when its comparison or session is deleted.
CREATE TABLE IF NOT EXISTS usage_ledger (
    comparison_id TEXT NOT NULL,
    model_index   INTEGER NOT NULL,
    owner         TEXT NOT NULL,
    model         TEXT NOT NULL,
    at_ms         BIGINT NOT NULL,
    input_tokens  BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cost_pico     BIGINT NOT NULL,
    priced        INTEGER NOT NULL,
    PRIMARY KEY (comparison_id, model_index)
);
CREATE INDEX IF NOT EXISTS usage_owner_at ON usage_ledger (owner, at_ms);

-- Budget per owner and period: committed = spent + still reserved, never above the limit.
CREATE TABLE IF NOT EXISTS budget_periods (
    owner           TEXT NOT NULL,
    period_start_ms BIGINT NOT NULL,
    committed_pico  BIGINT NOT NULL,
    spent_pico      BIGINT NOT NULL,
    PRIMARY KEY (owner, period_start_ms)
);
-- A running model call's worst-case cost, held until its result settles it.
CREATE TABLE IF NOT EXISTS budget_reservations (
    comparison_id   TEXT NOT NULL,
    model_index     INTEGER NOT NULL,
    owner           TEXT NOT NULL,
    period_start_ms BIGINT NOT NULL,
    amount_pico     BIGINT NOT NULL,
    PRIMARY KEY (comparison_id, model_index)
);
