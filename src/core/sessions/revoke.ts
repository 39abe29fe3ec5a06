import { AppError } from "../errors.js";
import type { CoreDeps } from "../deps.js";
import type { AuditNote } from "../ports/audit.js";
import type { ClientInfo, LiveSession } from "../ports/sessions.js";
import { required } from "../required.js";
import { readToken, type Caller } from "../tokens/authenticate.js";
import { announceRevocations } from "../revocations/announce.js";
import { UNKNOWN_CLIENT } from "./client.js";

/** Session ids are what `Random.id()` makes: 128 bits in base64url, 22 characters. */
const SESSION_ID = /^[A-Za-z0-9_-]{22}$/;

/**
 * Ends the session a refresh token belongs to. The cache learns first, so the
 * session's access tokens are refused everywhere from the moment this returns.
 */
export async function logout(deps: CoreDeps, refreshToken: string, client: ClientInfo = UNKNOWN_CLIENT): Promise<void> {
  const nowMs = deps.clock.now();
  const claims = await readToken(deps, refreshToken, "refresh");
  await deps.liveness.markRevoked(claims.sub, claims.sid);
  let wasLive: boolean;
  try {
    wasLive = await deps.sessions.revoke(claims.sid, "logout", new Date(nowMs), { type: "session.logged_out", client });
  } catch (error) {
    // The caller hears 503 and should retry; one that takes it as done must not see
    // the session come back when the cache's mark expires before the refresh token
    // (accepted until its exp plus the leeway).
    await deps.liveness.markRevoked(claims.sub, claims.sid, claims.exp * 1000 + deps.config.tokens.leewayMs).catch(() => {});
    throw error;
  }
  if (!wasLive) throw new AppError("token_blacklisted");
  announceRevocations(deps);
  deps.metrics.sessionsRevoked("logout", 1);
}

/** Ends every session of the caller; returns how many were live. */
export function logoutAll(deps: CoreDeps, caller: Caller, client: ClientInfo = UNKNOWN_CLIENT): Promise<number> {
  return revokeAllSessionsOf(deps, caller.user.id, "logout_all", { type: "session.logged_out_all", client });
}

/**
 * Ends every session of a user as logout-all does (the user's own, or staff's), and
 * counts them as `cause`; returns how many were live. The store records the same
 * revoked_reason for both; `note` says who did it.
 */
export async function revokeAllSessionsOf(deps: CoreDeps, userId: string, cause: "logout_all" | "admin", note: AuditNote): Promise<number> {
  const { revoked } = await endingEverySession(deps, userId, (now) => deps.sessions.revokeAllOfUser(userId, now, note));
  deps.metrics.sessionsRevoked(cause, revoked);
  return revoked;
}

/**
 * Ends every session of a user by `change`: one statement that moves the user's
 * logout-all instant to `now` (or later) and answers the instant it recorded (null
 * or undefined: it changed nothing). The cache learns first, so the sessions'
 * access tokens are refused everywhere from the moment this returns (logout-all,
 * and staff ending or deactivating an account).
 */
export async function endingEverySession<T extends { at: Date | null } | undefined>(
  deps: Pick<CoreDeps, "clock" | "liveness" | "kv" | "log">,
  userId: string,
  change: (now: Date) => Promise<T>,
): Promise<T> {
  const nowMs = deps.clock.now();
  await deps.liveness.raiseUserWatermark(userId, nowMs);
  const result = await change(new Date(nowMs));
  if (result?.at != null) announceRevocations(deps);
  // A session started by an instance whose clock runs ahead of ours is younger than
  // our now: the database moved the instant past it, and the cache follows.
  const at = result?.at?.getTime();
  if (at !== undefined && at > nowMs) await deps.liveness.raiseUserWatermark(userId, at);
  return result;
}

/**
 * Ends one of the caller's own sessions, chosen from their list (the current one
 * too: then it is a logout). Whose it is comes first, from the caller's live
 * sessions: an id that is not one of them (unknown, another user's, or ended) marks
 * nothing, changes nothing, and is answered alike, after the same one read.
 */
export async function revokeSession(deps: CoreDeps, caller: Caller, sessionId: string, client: ClientInfo = UNKNOWN_CLIENT): Promise<void> {
  // typeof: embedding JavaScript callers are not held to the type.
  if (typeof sessionId !== "string" || !SESSION_ID.test(required(sessionId, "session_id"))) {
    throw new AppError("validation_error", "session_id is not a session id", { field: "session_id" });
  }
  const now = new Date(deps.clock.now());
  const session = (await deps.sessions.listLive(caller.user.id, now)).find((s) => s.id === sessionId);
  if (session === undefined) throw new AppError("not_found", "no live session of the caller has that id");
  const ended = await revokeCacheFirst(deps, caller.user.id, [session], () =>
    deps.sessions.revokeOfUser(caller.user.id, session.id, now, { type: "session.revoked", client }),
  );
  // It ended between the read and the change (a logout, logout-all): as if it had been gone.
  if (!ended) throw new AppError("not_found", "no live session of the caller has that id");
  deps.metrics.sessionsRevoked("user", 1);
}

/**
 * Ends every live session of the caller but the current one; returns how many. A
 * session that starts after the list is read is not among them: like logout-all,
 * this never ends a login that came after it.
 */
export async function logoutOthers(deps: CoreDeps, caller: Caller, client: ClientInfo = UNKNOWN_CLIENT): Promise<number> {
  const now = new Date(deps.clock.now());
  const others = (await deps.sessions.listLive(caller.user.id, now)).filter((s) => s.id !== caller.sessionId);
  const revoked = await revokeCacheFirst(deps, caller.user.id, others, () =>
    deps.sessions.revokeOthers(caller.user.id, caller.sessionId, others.map((s) => s.id), now, { type: "session.logged_out_others", client }),
  );
  deps.metrics.sessionsRevoked("logout_others", revoked);
  return revoked;
}

/**
 * Marks the sessions revoked in the cache, then runs `revoke` on the database: as
 * in logout, their access tokens are refused everywhere from the moment this
 * returns. Should the database fail, the caller hears 503 and should retry; one
 * that takes it as done must not see a session come back when the cache's mark
 * expires, so the marks are made to last until each session's end (no token of a
 * session is accepted after it).
 */
async function revokeCacheFirst<T>(deps: CoreDeps, userId: string, sessions: readonly LiveSession[], revoke: () => Promise<T>): Promise<T> {
  await Promise.all(sessions.map((s) => deps.liveness.markRevoked(userId, s.id)));
  try {
    const revoked = await revoke();
    if (revoked !== false && revoked !== 0) announceRevocations(deps);
    return revoked;
  } catch (error) {
    await Promise.all(sessions.map((s) => deps.liveness.markRevoked(userId, s.id, s.expiresAt.getTime()))).catch(() => {});
    throw error;
  }
}
