-- The revocation feed (TokenService.WatchRevocations): every revocation, numbered in
-- commit order, for backends that verify access tokens in their own process.

-- One row: the log's identity and extent. Each revoking statement takes its ids with
-- `UPDATE revocation_log SET last_id = last_id + n` in the same statement as the
-- revocation, so the row lock is held to commit: ids are handed out in commit order
-- and committed ids have no gaps (a rollback takes its ids back). A reader of
-- `id > cursor ORDER BY id` therefore never skips an event. Revocations are rare
-- next to refreshes and logins, which never touch this row, so serializing them is
-- cheap.
CREATE TABLE revocation_log (
  only_row       boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  -- Random per database: a cursor from another database (or from before it was
  -- made again) names another epoch, and is answered with the full opening set.
  epoch          text NOT NULL,
  last_id        bigint NOT NULL DEFAULT 0,
  -- The highest id retention has deleted: a cursor below it may have missed rows.
  purged_through bigint NOT NULL DEFAULT 0
);
INSERT INTO revocation_log (epoch) VALUES (replace(gen_random_uuid()::text, '-', ''));

CREATE TABLE revocations (
  id             bigint PRIMARY KEY,
  -- 'session': that session's tokens are dead; 'user_before': every session of the
  -- user created at or before revoked_before is (logout-all, deactivation).
  kind           text NOT NULL CHECK (kind IN ('session', 'user_before')),
  session_id     text,
  user_id        uuid NOT NULL,
  revoked_before timestamptz,
  at             timestamptz NOT NULL,
  CHECK ((kind = 'session') = (session_id IS NOT NULL)),
  CHECK ((kind = 'user_before') = (revoked_before IS NOT NULL))
);
-- The opening set (the last access-token lifetime) and retention read by time.
CREATE INDEX revocations_at_idx ON revocations (at);
