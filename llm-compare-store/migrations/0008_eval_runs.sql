-- Evaluation runs and their finished rows (each row a comparison): what `--resume` skips.
-- `options` and `report` are the service's JSON, decoded strictly when read back.
CREATE TABLE IF NOT EXISTS eval_runs (
    id             TEXT PRIMARY KEY,
    owner          TEXT NOT NULL,
    dataset        TEXT NOT NULL,
    dataset_sha256 TEXT NOT NULL,
    options        TEXT NOT NULL,
    units          BIGINT NOT NULL,
    summary        TEXT,
    created_at_ms  BIGINT NOT NULL,
    finished_at_ms BIGINT
);

CREATE TABLE IF NOT EXISTS eval_rows (
    run_id        TEXT NOT NULL REFERENCES eval_runs (id) ON DELETE CASCADE,
    row_id        TEXT NOT NULL,
    repeat        INTEGER NOT NULL,
    comparison_id TEXT NOT NULL,
    report        TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (run_id, row_id, repeat)
);
