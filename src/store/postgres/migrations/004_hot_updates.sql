-- Rows the hot paths update in place leave room on their page, so the update is
-- HOT (heap-only: no new entry in any index) when no indexed column changes: a
-- user's last_login at every login (users now carries five indexes besides its
-- key, two of them GIN), a session's live refresh token and last_used_at at every
-- refresh. Applies to pages written from now on; VACUUM FULL rewrites the old ones.
ALTER TABLE users SET (fillfactor = 85);
ALTER TABLE sessions SET (fillfactor = 85);
