import { AppError } from "../errors.js";
import type { CoreDeps } from "../deps.js";
import { readToken, type Caller } from "../tokens/authenticate.js";
import { holdRevocationMs, markSessionRevoked, markUserSessionsRevoked } from "./state.js";

/**
 * Ends the session a refresh token belongs to. The cache learns first, so the
 * session's access tokens are refused everywhere from the moment this returns.
 */
export async function logout(deps: CoreDeps, refreshToken: string): Promise<void> {
  const nowMs = deps.clock.now();
  const claims = await readToken(deps, refreshToken, "refresh");
  await markSessionRevoked(deps, claims.sub, claims.sid);
  let wasLive: boolean;
  try {
    wasLive = await deps.sessions.revoke(claims.sid, "logout", new Date(nowMs));
  } catch (error) {
    // The caller hears 503 and should retry; one that takes it as done must not see
    // the session come back when the cache's mark expires before the refresh token.
    await markSessionRevoked(deps, claims.sub, claims.sid, holdRevocationMs(deps, claims.exp * 1000)).catch(() => {});
    throw error;
  }
  if (!wasLive) throw new AppError("token_blacklisted");
}

/** Ends every session of the caller; returns how many were live. */
export async function logoutAll(deps: CoreDeps, caller: Caller): Promise<number> {
  const nowMs = deps.clock.now();
  await markUserSessionsRevoked(deps, caller.user.id, nowMs);
  const { revoked, at } = await deps.sessions.revokeAllOfUser(caller.user.id, new Date(nowMs));
  // A session started by an instance whose clock runs ahead of ours is younger than
  // our now: the database moved the instant past it, and the cache follows.
  if (at.getTime() > nowMs) await markUserSessionsRevoked(deps, caller.user.id, at.getTime());
  return revoked;
}
