-- Images and files of prompts, stored once by content (the SHA-256 of their bytes) however
-- many turns, comparisons or models carry them. The bytes are kept as the base64 sent to
-- providers (no re-encoding when a later turn sends them again), in pieces of 1 MiB so
-- that writing a 20 MiB attachment never holds it whole in a statement's parameters.
CREATE TABLE IF NOT EXISTS attachments (
    sha256        TEXT PRIMARY KEY,
    media_type    TEXT NOT NULL,
    size          BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS attachment_chunks (
    sha256 TEXT NOT NULL REFERENCES attachments (sha256) ON DELETE CASCADE,
    seq    INTEGER NOT NULL,
    data   TEXT NOT NULL,
    PRIMARY KEY (sha256, seq)
);

-- A comparison's attachments, in order: JSON [{type, media_type, sha256, size, name, url}].
ALTER TABLE comparisons ADD COLUMN attachments TEXT;
