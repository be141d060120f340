-- Comparisons, their per-model results, and votes. Written so one file serves SQLite and
-- PostgreSQL: TEXT for ids and JSON documents, BIGINT for Unix milliseconds.
CREATE TABLE IF NOT EXISTS comparisons (
    id             TEXT PRIMARY KEY,
    owner          TEXT NOT NULL,
    status         TEXT NOT NULL,
    models         TEXT NOT NULL,
    metadata       TEXT,
    created_at_ms  BIGINT NOT NULL,
    finished_at_ms BIGINT,
    totals         TEXT,
    duration_ms    DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS comparisons_owner_created ON comparisons (owner, created_at_ms);
CREATE INDEX IF NOT EXISTS comparisons_status ON comparisons (status);

CREATE TABLE IF NOT EXISTS model_results (
    comparison_id TEXT NOT NULL REFERENCES comparisons (id) ON DELETE CASCADE,
    model_index   INTEGER NOT NULL,
    model         TEXT NOT NULL,
    text          TEXT NOT NULL,
    result        TEXT,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (comparison_id, model_index)
);

CREATE TABLE IF NOT EXISTS preferences (
    comparison_id TEXT PRIMARY KEY REFERENCES comparisons (id) ON DELETE CASCADE,
    owner         TEXT NOT NULL,
    winner        TEXT NOT NULL,
    feedback      TEXT,
    created_at_ms BIGINT NOT NULL
);
