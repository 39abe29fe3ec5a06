/**
 * Is this session still live, is this refresh token? Each rule once, here. The
 * session question is the hot path behind Verify, Introspect and every
 * authenticated call; its facts come from the liveness cache (a port: what this
 * process holds, else the shared cache read through from the database).
 */
import { AppError } from "../errors.js";
import type { CoreDeps } from "../deps.js";
import type { SessionFacts } from "../ports/session-liveness.js";
import type { RotationState } from "../ports/sessions.js";

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

/** A refresh token is live only if the store knows it and it has not been replaced
 * (rotated out), even while its session lives. Its state when live; else undefined. */
export async function liveRefreshToken(deps: Pick<CoreDeps, "sessions">, jti: string): Promise<RotationState | undefined> {
  const state = await deps.sessions.rotationState(jti);
  return state !== undefined && state.replacedBy === null ? state : undefined;
}
