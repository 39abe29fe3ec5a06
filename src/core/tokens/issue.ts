import type { CoreDeps } from "../deps.js";
import type { User } from "../ports/users.js";
import type { TokenUser } from "./claims.js";
import { signToken } from "./sign.js";

export interface TokenPair {
  access: string;
  refresh: string;
  accessExpiresAt: Date;
  refreshExpiresAt: Date;
}

export interface RefreshTokenSpec {
  jti: string;
  issuedAtMs: number;
  expiresAtMs: number;
}

/**
 * Signs a fresh access token and the given refresh token of a session of `user`.
 * The access token never outlives the session (SESSION_MAX_LIFETIME).
 */
export function issueTokenPair(
  deps: Pick<CoreDeps, "keys" | "config" | "random" | "extraClaims">,
  user: User,
  session: { id: string; expiresAtMs: number },
  refresh: RefreshTokenSpec,
  nowMs: number,
): TokenPair {
  const { tokens } = deps.config;
  const claimsUser = tokenUser(user);
  const options = { issuer: tokens.issuer, audience: tokens.audience, extraClaims: deps.extraClaims };
  const accessExpiresAtMs = Math.min(nowMs + tokens.accessLifetimeMs, session.expiresAtMs);
  const access = signToken(deps.keys, { type: "access", jti: deps.random.id(), sid: session.id, user: claimsUser, issuedAtMs: nowMs, expiresAtMs: accessExpiresAtMs }, options);
  const refreshToken = signToken(deps.keys, { type: "refresh", jti: refresh.jti, sid: session.id, user: claimsUser, issuedAtMs: refresh.issuedAtMs, expiresAtMs: refresh.expiresAtMs }, options);
  return {
    access,
    refresh: refreshToken,
    accessExpiresAt: secondsPrecision(accessExpiresAtMs),
    refreshExpiresAt: secondsPrecision(refresh.expiresAtMs),
  };
}

/** `exp` has whole seconds; report the same instant the token carries. */
function secondsPrecision(ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000);
}

/** The token-shaped view of a user (the claims' names). */
function tokenUser(user: User): TokenUser {
  return { id: user.id, phone: user.phone, first_name: user.firstName, last_name: user.lastName, is_staff: user.isStaff };
}
