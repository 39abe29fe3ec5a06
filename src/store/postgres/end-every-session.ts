/**
 * Logout-all in SQL, for revokeAllOfUser (sessions.ts) and deactivation (users.ts), which
 * both move the user's `sessions_revoked_before` past every live session and end
 * those sessions in one statement. `latest` is the newest live session's start;
 * `revokedBefore` the new instant (a session started by a clock ahead of ours is
 * covered too); `ended` the CTE `s` of the sessions ended, after a CTE `u` that
 * updated the user row. `when` is an SQL condition under which all this happens.
 */
export const END_EVERY_SESSION = {
  latest: (userId: string, when = "true") =>
    `latest AS (
           -- Live sessions only: revoked ones need no covering, and the partial
           -- index on (user_id) WHERE revoked_at IS NULL serves this.
           SELECT max(created_at) AS created_at FROM sessions WHERE user_id = ${userId} AND revoked_at IS NULL AND ${when}
         )`,
  revokedBefore: (now: string) => `GREATEST(sessions_revoked_before, ${now}, (SELECT created_at FROM latest))`,
  // The sessions are locked in id order first, as a batch of rotations locks them
  // (sessions.ts), so the two cannot deadlock on a user's sessions.
  ended: (o: { userId: string; now: string; reason: string; until: string; when?: string }) =>
    `${lockSessionsInOrder("ending", `user_id = ${o.userId} AND revoked_at IS NULL AND ${o.when ?? "true"}`)}, s AS (
           UPDATE sessions s SET revoked_at = ${o.now}, revoked_reason = ${o.reason}
           FROM users usr, u
           WHERE ${o.when ?? "true"} AND s.id IN (SELECT id FROM ending) AND s.user_id = ${o.userId} AND usr.id = s.user_id AND s.revoked_at IS NULL AND s.expires_at > ${o.now}
             AND s.created_at <= ${o.until}
             AND s.created_at > COALESCE(usr.sessions_revoked_before, '-infinity')
           RETURNING s.id
         )`,
};

/** A CTE `name` that locks the sessions matching `where` in id order: every statement
 * that locks more than one session row does so in this one order (a batch of
 * rotations, logout-all, logout-others, deactivation), so none deadlocks another. */
export function lockSessionsInOrder(name: string, where: string): string {
  return `${name} AS (
           SELECT id FROM sessions WHERE ${where} ORDER BY id FOR UPDATE
         )`;
}
