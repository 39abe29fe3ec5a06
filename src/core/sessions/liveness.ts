/**
 * Is this session still live? The hot-path question behind Verify, Introspect and
 * every authenticated call. The facts come from the liveness cache (a port: what
 * this process holds, else the shared cache read through from the database); the
 * rule that judges them is here, once.
 */
import { AppError } from "../errors.js";
import type { CoreDeps } from "../deps.js";
import type { SessionFacts } from "../ports/session-liveness.js";

/**
 * A session is dead when it is revoked (or unknown), when its user is inactive,
 * when it started at or before the user's logout-all instant, or when it has
 * expired; revoked outranks expired.
 */
export function sessionDeadReason(facts: SessionFacts, nowMs: number): "session_revoked" | "session_expired" | undefined {
  const { session, user } = facts;
  if (session === "revoked" || user === "inactive" || session.createdAtMs <= user) return "session_revoked";
  if (session.expiresAtMs <= nowMs) return "session_expired";
  return undefined;
}

/** Resolves when the session is live; throws `session_revoked` (403) or `session_expired` (401). */
export async function assertSessionLive(deps: Pick<CoreDeps, "liveness" | "clock">, userId: string, sessionId: string): Promise<void> {
  // Held facts answer without an await: the warm hot path asks no store.
  const facts = deps.liveness.held(userId, sessionId) ?? (await deps.liveness.read(userId, sessionId));
  const dead = sessionDeadReason(facts, deps.clock.now());
  if (dead !== undefined) throw new AppError(dead);
}
