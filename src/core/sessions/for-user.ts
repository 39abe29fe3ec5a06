import { AppError } from "../errors.js";
import type { CoreDeps } from "../deps.js";
import { issueTokenPair, tokenUser, type TokenPair } from "../tokens/issue.js";
import { newSession } from "./start.js";

/**
 * Starts a session for a user the caller has already authenticated some other way
 * (SimpleJWT's `RefreshToken.for_user`): for backends that embed this service.
 */
export async function startSessionForUser(deps: CoreDeps, userId: string): Promise<TokenPair> {
  const existing = await deps.users.findById(userId);
  if (existing === undefined || !existing.is_active) throw new AppError("phone_not_registered", "no active user with that id");
  const nowMs = deps.clock.now();
  const session = newSession(deps, nowMs);
  const user = await deps.sessions.login(existing.phone, session, deps.config.tokens.updateLastLogin);
  if (user === undefined) throw new AppError("phone_not_registered", "no active user with that id");
  return issueTokenPair(deps, tokenUser(user), { id: session.id, expiresAtMs: session.expiresAt.getTime() },
    { jti: session.refreshJti, issuedAtMs: nowMs, expiresAtMs: session.refreshExpiresAt.getTime() }, nowMs);
}
