-- Users, sessions and the refresh-token history (SimpleJWT's token_blacklist app:
-- outstanding and blacklisted tokens), with an index for every hot-path lookup.

CREATE TABLE users (
  id                      uuid PRIMARY KEY,
  phone                   text NOT NULL UNIQUE,          -- E.164
  first_name              text NOT NULL DEFAULT '',
  last_name               text NOT NULL DEFAULT '',
  is_staff                boolean NOT NULL DEFAULT false,
  is_active               boolean NOT NULL DEFAULT true,
  date_joined             timestamptz NOT NULL,
  last_login              timestamptz,
  -- Logout-all: every session created at or before this instant is revoked, even
  -- one whose row was written concurrently with the logout.
  sessions_revoked_before timestamptz
);

-- One login and the refresh chain that follows it.
CREATE TABLE sessions (
  id                  text PRIMARY KEY,                -- 128 random bits, base64url
  user_id             uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at          timestamptz NOT NULL,
  expires_at          timestamptz NOT NULL,            -- SESSION_MAX_LIFETIME cap
  -- The one live refresh token: a single column, so two can never be live at once.
  current_refresh_jti text NOT NULL,
  revoked_at          timestamptz,
  revoked_reason      text
);
CREATE INDEX sessions_user_live_idx ON sessions (user_id) WHERE revoked_at IS NULL;
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

-- Every refresh token ever issued (by jti; the token itself is never stored).
CREATE TABLE outstanding_tokens (
  jti         text PRIMARY KEY,
  session_id  text NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  user_id     uuid NOT NULL,
  created_at  timestamptz NOT NULL,
  expires_at  timestamptz NOT NULL,
  replaced_by text,                                    -- its successor, once rotated
  rotated_at  timestamptz
);
CREATE INDEX outstanding_tokens_session_idx ON outstanding_tokens (session_id);
CREATE INDEX outstanding_tokens_expires_at_idx ON outstanding_tokens (expires_at);

CREATE TABLE blacklisted_tokens (
  jti            text PRIMARY KEY REFERENCES outstanding_tokens (jti) ON DELETE CASCADE,
  blacklisted_at timestamptz NOT NULL
);
