-- Sessions a person can see: the client that last used each one. Written at login
-- and at every refresh by the statements that already run there.
ALTER TABLE sessions
  ADD COLUMN ip           text,
  ADD COLUMN user_agent   text,                        -- at most 256 characters
  ADD COLUMN last_used_at timestamptz;
UPDATE sessions SET last_used_at = created_at;
ALTER TABLE sessions ALTER COLUMN last_used_at SET NOT NULL;

-- No index on last_used_at: every refresh writes it, and a written indexed column
-- makes each rotation a non-HOT update (new entries in every index of the table).
-- A person's live sessions are few; sessions_user_live_idx finds them and they are
-- sorted after.

-- The audit trail: one row per security-relevant change, written in the same
-- statement or transaction as the change. Never a code, token, key or secret.
CREATE TABLE audit_events (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at         timestamptz NOT NULL,                     -- millisecond precision
  type       text NOT NULL,
  user_id    uuid,                                     -- no FK: the trail outlives nothing it names
  session_id text,
  actor      text NOT NULL,                            -- user:<id>, staff:<id>, service:<name>, system
  ip         text,
  user_agent text,
  details    jsonb NOT NULL DEFAULT '{}'
);
-- Listings are newest first with keyset paging on (at, id): one index per filter.
CREATE INDEX audit_events_at_idx ON audit_events (at DESC, id DESC);
CREATE INDEX audit_events_user_at_idx ON audit_events (user_id, at DESC, id DESC) WHERE user_id IS NOT NULL;
CREATE INDEX audit_events_type_at_idx ON audit_events (type, at DESC, id DESC);
