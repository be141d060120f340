-- API keys as data: each maps a secret to a user, with a scope and optional limits. Only a
-- digest of the secret is kept (hex SHA-256), never the secret; `prefix` is its first
-- characters, for people to recognize a key by. `limits` is JSON (allowed models, rpm,
-- max_active, budget), decoded strictly.
CREATE TABLE IF NOT EXISTS api_keys (
    id              TEXT PRIMARY KEY,
    owner           TEXT NOT NULL,
    name            TEXT,
    prefix          TEXT NOT NULL,
    digest          TEXT NOT NULL UNIQUE,
    admin           INTEGER NOT NULL,
    limits          TEXT NOT NULL,
    created_at_ms   BIGINT NOT NULL,
    expires_at_ms   BIGINT,
    last_used_at_ms BIGINT,
    revoked_at_ms   BIGINT
);
-- Bumped by every change to api_keys (in the same transaction): servers poll this one row to
-- know when to reload their cache, instead of a database round trip per request.
CREATE TABLE IF NOT EXISTS api_key_epoch (
    id    INTEGER PRIMARY KEY,
    epoch BIGINT NOT NULL
);
INSERT INTO api_key_epoch (id, epoch) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
