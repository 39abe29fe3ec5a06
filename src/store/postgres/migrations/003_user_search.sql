-- Staff find users: by phone prefix, by part of a name, or all of them, newest first
-- a page at a time (keyset paging on (date_joined, id)). Each search answers from an
-- index, in milliseconds over a million users (BENCHMARKS.md).

-- A prefix LIKE on the phone is a range scan only on an index of pattern order (the
-- unique index keeps serving exact matches).
CREATE INDEX users_phone_pattern_idx ON users (phone text_pattern_ops);

-- Part of a name, case-insensitively: trigram indexes of the lower-cased names.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX users_first_name_trgm_idx ON users USING gin (lower(first_name) gin_trgm_ops);
CREATE INDEX users_last_name_trgm_idx ON users USING gin (lower(last_name) gin_trgm_ops);

-- Everyone, newest first, and the order every search pages along.
CREATE INDEX users_date_joined_idx ON users (date_joined DESC, id DESC);
