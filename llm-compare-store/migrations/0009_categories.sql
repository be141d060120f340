-- A comparison's category and tags (`category`, `tags` in its request; an evaluation row's
-- category): the leaderboard counts one category's votes with `?category=`.
ALTER TABLE comparisons ADD COLUMN category TEXT;
ALTER TABLE comparisons ADD COLUMN tags TEXT;
