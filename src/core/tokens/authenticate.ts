import type { CoreDeps } from "../deps.js";
import { AppError, type Reason } from "../errors.js";
import { assertSessionLive, sessionDeadReason } from "../sessions/liveness.js";
import type { Clock } from "../clock.js";
import { userOfClaims, type TokenClaims, type TokenType, type TokenUser } from "./claims.js";
import type { VerifyingKeys } from "./keys.js";
import type { VerifiedTokenCache } from "./verified-cache.js";
import { verifyToken } from "./verify.js";

/** Who is calling: a valid access token of a live session. */
export interface Caller {
  user: TokenUser;
  sessionId: string;
  claims: TokenClaims;
  expiresAt: Date;
}

type CheckDeps = Pick<CoreDeps, "keys" | "config" | "clock" | "log" | "verifiedTokens" | "liveness">;

/** The settings a token's claims are checked against (the service's TOKEN variables). */
export type TokenRules = Pick<CoreDeps["config"]["tokens"], "issuer" | "audience" | "leewayMs" | "accessLifetimeMs" | "refreshLifetimeMs">;

/** What reading a token needs: the service's deps, or a backend's local verifier
 * (public keys only, the rules it was given). */
export interface TokenReadDeps {
  keys: VerifyingKeys;
  config: { tokens: TokenRules };
  clock: Clock;
  log: Pick<CoreDeps["log"], "isLevelEnabled" | "debug">;
  verifiedTokens: VerifiedTokenCache;
}

/** Validates a token's form, signature and claims as configured (not its session). */
export async function readToken(deps: TokenReadDeps, token: string, type: TokenType): Promise<TokenClaims> {
  const nowMs = deps.clock.now();
  // Only access tokens are asked about again and again; refresh tokens are spent.
  const cached = type === "access" ? deps.verifiedTokens.get(token, nowMs) : undefined;
  if (cached !== undefined) return cached;
  const claims = await verifyToken(deps.keys, token, type, options(deps, type, nowMs));
  if (type === "access") deps.verifiedTokens.set(token, claims);
  return claims;
}

function options(deps: Pick<TokenReadDeps, "config" | "log">, type: TokenType, nowMs: number) {
  const { tokens } = deps.config;
  return {
    issuer: tokens.issuer,
    audience: tokens.audience,
    leewayMs: tokens.leewayMs,
    maxLifetimeMs: type === "access" ? tokens.accessLifetimeMs : tokens.refreshLifetimeMs,
    nowMs,
    onRefused: deps.log.isLevelEnabled("debug") ? (why: string) => deps.log.debug({ why, expected: type }, "token refused") : undefined,
  };
}

/** Validates a token of `type` and its session; throws AppError with the reason. */
export async function checkToken(deps: CheckDeps, token: string, type: TokenType): Promise<TokenClaims> {
  const claims = await readToken(deps, token, type);
  await assertSessionLive(deps, claims.sub, claims.sid);
  return claims;
}

/**
 * An access token's claims from what this process already holds, without an await:
 * the token verified before (and not yet expired) and its session's facts. `live`
 * says whether the session is; undefined when either is not held, and then the full
 * check (checkToken) runs. The warm hot path (a backend asking about the same token
 * again) answers here, in the tick its request arrived: no promise is made for it.
 */
function heldAccess(deps: CheckDeps, token: string): { claims: TokenClaims; dead: "session_revoked" | "session_expired" | undefined } | undefined {
  const nowMs = deps.clock.now();
  const claims = deps.verifiedTokens.get(token, nowMs);
  if (claims === undefined) return undefined;
  const facts = deps.liveness.held(claims.sub, claims.sid);
  return facts === undefined ? undefined : { claims, dead: sessionDeadReason(facts, nowMs) };
}

/** The caller behind an access token (Verify, and every authenticated RPC). */
export async function authenticateAccess(deps: CheckDeps, token: string): Promise<Caller> {
  const held = heldAccess(deps, token);
  if (held?.dead !== undefined) throw new AppError(held.dead);
  const claims = held?.claims ?? (await checkToken(deps, token, "access"));
  return { user: userOfClaims(claims), sessionId: claims.sid, claims, expiresAt: new Date(claims.exp * 1000) };
}

export type AccessVerdict = { valid: true; user: TokenUser; claims: TokenClaims; expiresAt: Date } | { valid: false; reason: Reason };

/**
 * Verify's rule, for every surface that asks "is this access token good?": a bad
 * token is an answer (`valid: false` and why), not an error. A store that cannot
 * say throws, so nothing reads "valid" while revocation cannot be checked (and
 * nothing is counted: no answer was given). An answer from what is held comes back
 * as it is, not in a promise (`await` takes either).
 */
export function verifyAccess(deps: CheckDeps & Pick<CoreDeps, "metrics">, token: string): AccessVerdict | Promise<AccessVerdict> {
  const held = heldAccess(deps, token);
  if (held === undefined) return verifyInFull(deps, token);
  if (held.dead !== undefined) {
    deps.metrics.verified(held.dead);
    return { valid: false, reason: held.dead };
  }
  return validVerdict(deps, held.claims);
}

async function verifyInFull(deps: CheckDeps & Pick<CoreDeps, "metrics">, token: string): Promise<AccessVerdict> {
  let claims: TokenClaims;
  try {
    claims = await checkToken(deps, token, "access");
  } catch (error) {
    if (!(error instanceof AppError)) throw error;
    deps.metrics.verified(error.reason);
    return { valid: false, reason: error.reason };
  }
  return validVerdict(deps, claims);
}

function validVerdict(deps: Pick<CoreDeps, "metrics">, claims: TokenClaims): AccessVerdict {
  deps.metrics.verified("valid");
  return { valid: true, user: userOfClaims(claims), claims, expiresAt: new Date(claims.exp * 1000) };
}
