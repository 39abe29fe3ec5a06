/**
 * A session as the liveness cache knows it: live, with its instants; or "revoked",
 * which also stands for a session that does not exist (flushed, or never ours), is
 * another user's, or is cached in a form this version cannot read (fail closed).
 */
export type SessionEntry = { readonly createdAtMs: number; readonly expiresAtMs: number } | "revoked";

/** The session's user as the cache knows it: the logout-all instant in ms (0:
 * never), or "inactive" (also for a cached value this version cannot read). */
export type UserEntry = number | "inactive";

export interface SessionFacts {
  readonly session: SessionEntry;
  readonly user: UserEntry;
}

/**
 * The session liveness cache: what the hot path reads to judge a session (the rule
 * is core's: sessions/liveness.ts), and where revocations are recorded first, before
 * the database changes, so a read racing a revocation never brings the session back.
 * Failures to reach it are thrown as `UnavailableError("cache", …)`: callers fail closed.
 */
export interface SessionLiveness {
  /** The facts this process holds, without I/O; undefined when it holds none (ask `read`). */
  held(userId: string, sessionId: string): SessionFacts | undefined;
  /** The facts from the shared cache, filled from the database on a miss. */
  read(userId: string, sessionId: string): Promise<SessionFacts>;
  /** Records the session as revoked and tells every process. `holdUntilMs`: the
   * record must last at least until then (a revocation the database may have missed,
   * kept until no token of the session can be accepted any more). */
  markRevoked(userId: string, sessionId: string, holdUntilMs?: number): Promise<void>;
  /** Moves the user's logout-all instant forward to `atMs` (never back) and tells
   * every process; sessions started at or before it are dead. */
  raiseUserWatermark(userId: string, atMs: number): Promise<void>;
  /** The user is active again (staff reactivated them): a cached "inactive" gives way
   * to their logout-all instant `atMs` (an instant already held is never moved back),
   * and every process is told. */
  markUserActive(userId: string, atMs: number): Promise<void>;
}
