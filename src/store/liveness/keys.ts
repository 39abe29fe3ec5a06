/**
 * The liveness cache's key layout and value encodings in the key-value store. Both
 * keys of a user share one hash tag so the hot path reads them in one MGET, on one
 * Redis Cluster node. Instances of different versions share these: change them only
 * with a plan for a mixed fleet.
 */
import type { SessionEntry, UserEntry } from "../../core/ports/session-liveness.js";

export function sessionCacheKey(userId: string, sessionId: string): string {
  return `{u:${userId}}:s:${sessionId}`;
}

export function userCacheKey(userId: string): string {
  return `{u:${userId}}:u`;
}

/** Cached session values: revoked, or live with its creation and expiry instants. */
export const REVOKED = "R";
export function liveSessionValue(createdAtMs: number, expiresAtMs: number): string {
  return `L:${createdAtMs}:${expiresAtMs}`;
}

/** Cached user values: inactive, or the logout-all instant (0 for never). */
export const INACTIVE = "X";

const LIVE_VALUE = /^L:(\d+):(\d+)$/;

/** Anything but a well-formed live value (a revocation, or a value this version
 * does not understand) reads as revoked: fail closed. */
export function decodeSession(value: string): SessionEntry {
  const live = LIVE_VALUE.exec(value);
  return live === null ? "revoked" : { createdAtMs: Number(live[1]), expiresAtMs: Number(live[2]) };
}

/** Anything but a whole number (INACTIVE, or a value this version does not
 * understand) reads as inactive: fail closed. */
export function decodeUser(value: string): UserEntry {
  const revokedBefore = Number(value);
  return Number.isSafeInteger(revokedBefore) ? revokedBefore : "inactive";
}
