import { AppError } from "../errors.js";
import type { CoreDeps } from "../deps.js";
import type { ClientInfo } from "../ports/sessions.js";
import { readToken, type Caller } from "../tokens/authenticate.js";
import { UNKNOWN_CLIENT } from "./client.js";

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
}

/** Ends every session of the caller; returns how many were live. */
export async function logoutAll(deps: CoreDeps, caller: Caller, client: ClientInfo = UNKNOWN_CLIENT): Promise<number> {
  const userId = caller.user.id;
  const { revoked } = await endingEverySession(deps, userId, (now) => deps.sessions.revokeAllOfUser(userId, now, { type: "session.logged_out_all", client }));
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
  deps: Pick<CoreDeps, "clock" | "liveness">,
  userId: string,
  change: (now: Date) => Promise<T>,
): Promise<T> {
  const nowMs = deps.clock.now();
  await deps.liveness.raiseUserWatermark(userId, nowMs);
  const result = await change(new Date(nowMs));
  // A session started by an instance whose clock runs ahead of ours is younger than
  // our now: the database moved the instant past it, and the cache follows.
  const at = result?.at?.getTime();
  if (at !== undefined && at > nowMs) await deps.liveness.raiseUserWatermark(userId, at);
  return result;
}
