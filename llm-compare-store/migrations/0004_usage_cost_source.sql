-- Where each ledger entry's cost came from: `provider` (reported with the call), `price_table`,
-- `config` (an override) or `estimated` (tokenizer-counted usage). NULL: entered before
-- sources were kept.
ALTER TABLE usage_ledger ADD COLUMN cost_source TEXT;
