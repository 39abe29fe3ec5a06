-- Moving over from the Django system (identity import-django, and the exchange of
-- its SimpleJWT refresh tokens at Refresh).

-- The Django user's integer id: what its tokens' user_id claim names. One imported
-- user per Django id; users who signed up here have none.
ALTER TABLE users ADD COLUMN legacy_id bigint;
CREATE UNIQUE INDEX users_legacy_id_idx ON users (legacy_id) WHERE legacy_id IS NOT NULL;

-- Django refresh tokens that can never be exchanged: blacklisted there (imported from
-- token_blacklist_blacklistedtoken) or exchanged here once. The primary key is what
-- makes an exchange happen exactly once however many presentations race: the one
-- insert that wins creates the session, in the same transaction.
CREATE TABLE legacy_spent_tokens (
  jti        text PRIMARY KEY,
  reason     text NOT NULL CHECK (reason IN ('blacklisted', 'exchanged')),
  spent_at   timestamptz NOT NULL,
  -- The token's own exp when known: past it the row guards nothing (the token is
  -- expired anyway) and flush-expired may delete it.
  expires_at timestamptz
);
