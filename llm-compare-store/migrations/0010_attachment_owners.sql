-- Who stored which attachment, and its size: a user's stored attachment bytes (the
-- `attachment_quota_bytes` limit) count each attachment once per user, however many of their
-- comparisons carry it, and whoever else stored the same bytes. Attachments stored before
-- this table count from their next use.
CREATE TABLE IF NOT EXISTS attachment_owners (
    owner  TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size   BIGINT NOT NULL,
    PRIMARY KEY (owner, sha256)
);
