/**
 * Redis keys of the revocation cache. Both keys of a user share one hash tag so the
 * hot path reads them in one MGET, on one Redis Cluster node.
 */
export function sessionCacheKey(userId: string, sessionId: string): string {
  return `{u:${userId}}:s:${sessionId}`;
}

export function userCacheKey(userId: string): string {
  return `{u:${userId}}:u`;
}

/** Not stored in Redis: the name under which a change of the user's profile is
 * announced, so every process drops its in-process copy. */
export function profileKey(userId: string): string {
  return `{u:${userId}}:p`;
}

/** Cached session values: revoked, or live with its creation and expiry instants. */
export const REVOKED = "R";
export function liveSessionValue(createdAtMs: number, expiresAtMs: number): string {
  return `L:${createdAtMs}:${expiresAtMs}`;
}

/** Cached user values: inactive, or the logout-all instant (0 for never). */
export const INACTIVE = "X";
