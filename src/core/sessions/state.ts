/**
 * Is this session still live? The hot-path question behind Verify, Introspect and
 * every authenticated call. Answered from the cache (one MGET) and read through
 * from PostgreSQL on a miss, so a flushed Redis never brings a revoked session back.
 *
 * Cache writes from the read-through use set-if-absent, and revocations write
 * unconditionally *before* they change PostgreSQL: a read that raced a revocation
 * can never overwrite the revocation's entry with a stale "live".
 */
import { AppError } from "../errors.js";
import type { CoreDeps } from "../deps.js";
import { INACTIVE, REVOKED, liveSessionValue, sessionCacheKey, userCacheKey } from "./cache-keys.js";

type StateDeps = Pick<CoreDeps, "kv" | "sessions" | "config" | "clock" | "localState">;

/** Entries live as long as an access token can; after that a miss re-reads the truth. */
export function cacheTtlMs(config: CoreDeps["config"]): number {
  return config.tokens.accessLifetimeMs + config.tokens.leewayMs + 60_000;
}

/** Resolves when the session is live; throws `session_revoked` (403) or `session_expired` (401). */
export async function assertSessionLive(deps: StateDeps, userId: string, sessionId: string): Promise<void> {
  const sessionKey = sessionCacheKey(userId, sessionId);
  const userKey = userCacheKey(userId);
  const local = deps.localState;
  const heldSession = local?.get(sessionKey);
  const heldUser = heldSession === undefined ? undefined : local!.get(userKey);
  const [session, user] = heldUser !== undefined ? [heldSession!, heldUser] : await readShared(deps, userId, sessionId, sessionKey, userKey);
  const live = LIVE_VALUE.exec(session);
  const revokedBefore = Number(user);
  // Anything but a well-formed live entry (a revocation, or a value this version
  // does not understand) refuses: fail closed.
  if (live === null || !Number.isSafeInteger(revokedBefore)) throw new AppError("session_revoked");
  if (Number(live[1]) <= revokedBefore) throw new AppError("session_revoked");
  if (Number(live[2]) <= deps.clock.now()) throw new AppError("session_expired");
}

const LIVE_VALUE = /^L:(\d+):(\d+)$/;

/** From Redis (read through from PostgreSQL on a miss), kept in-process briefly. */
async function readShared(deps: StateDeps, userId: string, sessionId: string, sessionKey: string, userKey: string): Promise<[string, string]> {
  const mark = deps.localState?.mark() ?? 0;
  const [cachedSession, cachedUser] = await deps.kv.getMany([sessionKey, userKey]);
  const [session, user] =
    cachedSession == null || cachedUser == null
      ? await readThrough(deps, userId, sessionId, sessionKey, userKey, cachedSession ?? null, cachedUser ?? null)
      : [cachedSession, cachedUser];
  deps.localState?.put(sessionKey, session, mark);
  deps.localState?.put(userKey, user, mark);
  return [session, user];
}

async function readThrough(
  deps: StateDeps,
  userId: string,
  sessionId: string,
  sessionKey: string,
  userKey: string,
  cachedSession: string | null,
  cachedUser: string | null,
): Promise<[string, string]> {
  const snapshot = await deps.sessions.snapshot(sessionId);
  const ttl = cacheTtlMs(deps.config);
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
  if (cachedSession === null) writes.push(deps.kv.setIfAbsent(sessionKey, session, ttl));
  if (cachedUser === null && snapshot !== undefined && snapshot.userId === userId) writes.push(deps.kv.setIfAbsent(userKey, user, ttl));
  const results = await Promise.all(writes);
  // Another writer got there first (perhaps a revocation): re-read what won.
  if (results.some((r) => !r.set)) {
    const [s, u] = await deps.kv.getMany([sessionKey, userKey]);
    return [s ?? session, u ?? user];
  }
  return [session, user];
}

/** Marks a session revoked in the cache (before PostgreSQL is changed), and tells
 * every process to drop its copy. The mark lives `ttlMs` (by default as long as any
 * other cache entry); see `holdRevocationMs` for when it must live longer. */
export async function markSessionRevoked(deps: Pick<CoreDeps, "kv" | "config" | "localState">, userId: string, sessionId: string, ttlMs = cacheTtlMs(deps.config)): Promise<void> {
  const key = sessionCacheKey(userId, sessionId);
  deps.localState?.drop(key);
  await deps.kv.set(key, REVOKED, ttlMs);
  await deps.kv.announceChange([key]);
}

/** How long a revocation PostgreSQL did not record must stay in the cache: until the
 * last token that could use the session has expired (a refresh token whose exp is
 * `untilMs`), since a read-through after the mark expires would find it live. */
export function holdRevocationMs(deps: Pick<CoreDeps, "config" | "clock">, untilMs: number): number {
  return Math.max(cacheTtlMs(deps.config), untilMs + deps.config.tokens.leewayMs - deps.clock.now() + 60_000);
}

/** Records a user's logout-all instant in the cache (before PostgreSQL is changed),
 * and tells every process to drop its copy. The instant only ever moves forward: a
 * later logout-all from a clock behind must not bring earlier sessions back. */
export async function markUserSessionsRevoked(deps: Pick<CoreDeps, "kv" | "config" | "localState">, userId: string, atMs: number): Promise<void> {
  const key = userCacheKey(userId);
  deps.localState?.drop(key);
  // As long as a refresh token lives: should PostgreSQL fail to record the instant,
  // the cache alone still holds it for every token it covers (one key per user).
  const { tokens } = deps.config;
  await deps.kv.raise(key, atMs, Math.max(cacheTtlMs(deps.config), tokens.refreshLifetimeMs + tokens.leewayMs + 60_000));
  await deps.kv.announceChange([key]);
}
