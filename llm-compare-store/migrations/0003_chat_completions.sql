-- What a stored comparison is: `comparison` (POST /v1/comparisons, a session turn) or
-- `chat_completion` (the OpenAI-compatible endpoint: one model, recorded for usage, budgets
-- and history like any comparison).
ALTER TABLE comparisons ADD COLUMN kind TEXT NOT NULL DEFAULT 'comparison';
