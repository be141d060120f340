-- Stored answers of the Responses door (`POST /v1/responses` with `store`): the conversation
-- through each answer, so that `previous_response_id` continues the same model's thread and
-- `GET /v1/responses/{id}` reads the answer back. One row holds the whole thread (no chain
-- to walk); it is written before the answer's last event leaves, so a follow-up finds it.
CREATE TABLE IF NOT EXISTS response_threads (
    id            TEXT PRIMARY KEY,
    owner         TEXT NOT NULL,
    comparison_id TEXT NOT NULL,
    model         TEXT NOT NULL,
    messages      TEXT NOT NULL,
    response      TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS response_threads_comparison ON response_threads (comparison_id);
