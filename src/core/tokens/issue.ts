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

type IssueDeps = Pick<CoreDeps, "keys" | "config" | "random" | "extraClaims" | "metrics">;

/** A fresh access token of a session of `user`, which never outlives the session
 * (SESSION_MAX_LIFETIME). */
export function issueAccessToken(deps: IssueDeps, user: User, session: { id: string; expiresAtMs: number }, nowMs: number): { access: string; accessExpiresAt: Date } {
  const { tokens } = deps.config;
  const accessExpiresAtMs = Math.min(nowMs + tokens.accessLifetimeMs, session.expiresAtMs);
  const access = signToken(deps.keys, { type: "access", jti: deps.random.id(), sid: session.id, user: tokenUser(user), issuedAtMs: nowMs, expiresAtMs: accessExpiresAtMs }, signOptions(deps));
  deps.metrics.tokensIssued("access");
  return { access, accessExpiresAt: secondsPrecision(accessExpiresAtMs) };
}

/** Signs a fresh access token and the given refresh token of a session of `user`. */
export function issueTokenPair(deps: IssueDeps, user: User, session: { id: string; expiresAtMs: number }, refresh: RefreshTokenSpec, nowMs: number): TokenPair {
  const access = issueAccessToken(deps, user, session, nowMs);
  const refreshToken = signToken(
    deps.keys,
    { type: "refresh", jti: refresh.jti, sid: session.id, user: tokenUser(user), issuedAtMs: refresh.issuedAtMs, expiresAtMs: refresh.expiresAtMs },
    signOptions(deps),
  );
  deps.metrics.tokensIssued("refresh");
  return { ...access, refresh: refreshToken, refreshExpiresAt: secondsPrecision(refresh.expiresAtMs) };
}

function signOptions(deps: Pick<CoreDeps, "config" | "extraClaims">) {
  const { tokens } = deps.config;
  return { issuer: tokens.issuer, audience: tokens.audience, extraClaims: deps.extraClaims };
}

/** `exp` has whole seconds; report the same instant the token carries. */
function secondsPrecision(ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000);
}

/** The token-shaped view of a user (the claims' names). */
function tokenUser(user: User): TokenUser {
  return { id: user.id, phone: user.phone, first_name: user.firstName, last_name: user.lastName, is_staff: user.isStaff };
}
