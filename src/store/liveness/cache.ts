/**
 * The session liveness cache on the key-value store (Redis, or the in-process
 * twin): the hot path reads a session and its user in one MGET, read through from
 * PostgreSQL on a miss, so a flushed Redis never brings a revoked session back. On
 * shared stores, what was read is also held in-process for a moment (local copies).
 *
 * Cache writes from the read-through use set-if-absent, and revocations write
 * unconditionally *before* the database changes: a read that raced a revocation
 * can never overwrite the revocation's entry with a stale "live".
 */
import type { Config } from "../../config.js";
import type { Clock } from "../../core/clock.js";
import { createLocalCopies } from "../../core/local-copies.js";
import type { KeyValueStore } from "../../core/ports/key-value.js";
import type { SessionEntry, SessionFacts, SessionLiveness, UserEntry } from "../../core/ports/session-liveness.js";
import type { SessionSnapshots } from "../postgres/sessions.js";
import { decodeSession, decodeUser, INACTIVE, liveSessionValue, REVOKED, sessionCacheKey, userCacheKey } from "./keys.js";

export interface SessionLivenessOptions {
  kv: KeyValueStore;
  /** The database's account of a session, read through on a miss. */
  sessions: SessionSnapshots;
  tokens: Pick<Config["tokens"], "accessLifetimeMs" | "refreshLifetimeMs" | "leewayMs">;
  clock: Clock;
  /** How long this process may hold what it read; undefined: it holds nothing. */
  localCopyMs?: number | undefined;
}

export function createSessionLiveness(options: SessionLivenessOptions): SessionLiveness {
  const { kv, sessions, tokens, clock, localCopyMs } = options;
  // Entries live as long as an access token can; after that a miss re-reads the truth.
  const entryTtlMs = tokens.accessLifetimeMs + tokens.leewayMs + 60_000;
  const sessionCopies = localCopyMs === undefined ? undefined : createLocalCopies<SessionEntry>(kv, localCopyMs);
  const userCopies = localCopyMs === undefined ? undefined : createLocalCopies<UserEntry>(kv, localCopyMs);

  /** The raw cached values of the session and its user, written through on a miss. */
  async function readThrough(userId: string, sessionId: string, sessionKey: string, userKey: string, cachedSession: string | null, cachedUser: string | null): Promise<[string, string]> {
    const snapshot = await sessions.snapshot(sessionId);
    // A session that does not exist (flushed, or never ours) or belongs to someone
    // else is as good as revoked.
    const session =
      cachedSession ??
      (snapshot === undefined || snapshot.userId !== userId || snapshot.revoked
        ? REVOKED
        : liveSessionValue(snapshot.createdAt.getTime(), snapshot.expiresAt.getTime()));
    const user =
      cachedUser ??
      (snapshot === undefined || snapshot.userId !== userId
        ? "0"
        : !snapshot.userActive
          ? INACTIVE
          : String(snapshot.sessionsRevokedBefore?.getTime() ?? 0));
    const writes: Promise<{ set: boolean }>[] = [];
    if (cachedSession === null) writes.push(kv.setIfAbsent(sessionKey, session, entryTtlMs));
    if (cachedUser === null && snapshot !== undefined && snapshot.userId === userId) writes.push(kv.setIfAbsent(userKey, user, entryTtlMs));
    const results = await Promise.all(writes);
    // Another writer got there first (perhaps a revocation): re-read what won.
    if (results.some((r) => !r.set)) {
      const [s, u] = await kv.getMany([sessionKey, userKey]);
      return [s ?? session, u ?? user];
    }
    return [session, user];
  }

  async function raiseUser(userId: string, atMs: number, overMarker: boolean): Promise<void> {
    const key = userCacheKey(userId);
    userCopies?.drop(key);
    // As long as a refresh token lives: should PostgreSQL fail to record the instant,
    // the cache alone still holds it for every token it covers (one key per user).
    await kv.raise(key, atMs, Math.max(entryTtlMs, tokens.refreshLifetimeMs + tokens.leewayMs + 60_000), { overMarker });
    await kv.announceChange([key]);
  }

  return {
    held(userId, sessionId) {
      if (sessionCopies === undefined || userCopies === undefined) return undefined;
      const session = sessionCopies.get(sessionCacheKey(userId, sessionId));
      if (session === undefined) return undefined;
      const user = userCopies.get(userCacheKey(userId));
      return user === undefined ? undefined : { session, user };
    },

    async read(userId, sessionId): Promise<SessionFacts> {
      const sessionKey = sessionCacheKey(userId, sessionId);
      const userKey = userCacheKey(userId);
      const sessionMark = sessionCopies?.mark() ?? 0;
      const userMark = userCopies?.mark() ?? 0;
      const [cachedSession, cachedUser] = await kv.getMany([sessionKey, userKey]);
      const [session, user] =
        cachedSession == null || cachedUser == null
          ? await readThrough(userId, sessionId, sessionKey, userKey, cachedSession ?? null, cachedUser ?? null)
          : [cachedSession, cachedUser];
      const facts = { session: decodeSession(session), user: decodeUser(user) };
      sessionCopies?.put(sessionKey, facts.session, sessionMark);
      userCopies?.put(userKey, facts.user, userMark);
      return facts;
    },

    async markRevoked(userId, sessionId, holdUntilMs) {
      const key = sessionCacheKey(userId, sessionId);
      sessionCopies?.drop(key);
      // By default as long as any other entry; longer when asked, since a read-through
      // after the mark expires would find live a session the database never revoked.
      const ttlMs = holdUntilMs === undefined ? entryTtlMs : Math.max(entryTtlMs, holdUntilMs - clock.now() + 60_000);
      await kv.set(key, REVOKED, ttlMs);
      await kv.announceChange([key]);
    },

    raiseUserWatermark: (userId, atMs) => raiseUser(userId, atMs, false),

    // After the database made the user active: a read-through that saw them inactive
    // wrote the "inactive" mark with set-if-absent, so it cannot come back once this
    // has written the instant; and a deactivation's raised instant is never lowered.
    markUserActive: (userId, atMs) => raiseUser(userId, atMs, true),
  };
}
