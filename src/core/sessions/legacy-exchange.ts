/**
 * The cut-over from the Django system: a SimpleJWT refresh token it issued is
 * exchanged once, at Refresh, for the first session here of its imported user, so
 * that a person logged in there stays logged in. Only Refresh asks this module;
 * Verify, Introspect and Bearer tokens never do (a legacy token is not ours there).
 */
import { errors, jwtVerify } from "jose";
import type { CoreDeps } from "../deps.js";
import { AppError } from "../errors.js";
import type { AuditNote } from "../ports/audit.js";
import type { ClientInfo, LegacyToken } from "../ports/sessions.js";
import type { TokenPair } from "../tokens/issue.js";
import { MAX_TOKEN_LENGTH } from "../tokens/verify.js";
import { completeSignIn, newSession } from "./start.js";

/** user_id as SimpleJWT writes it: the Django id, a number (5.x) or its decimal string (newer). */
const DECIMAL_ID = /^[1-9]\d{0,18}$/;
/** PostgreSQL's bigint, which holds users.legacy_id. */
const MAX_LEGACY_ID = 2n ** 63n - 1n;

/**
 * The legacy refresh token `token` is, or undefined when it is none: no legacy key
 * is configured, LEGACY_SIMPLEJWT_UNTIL has passed, or the legacy key did not sign
 * it. A token the legacy key signed but that cannot be exchanged is refused here
 * with DESIGN's reason (token_expired, token_wrong_type, token_not_valid).
 */
export async function readLegacyToken(deps: Pick<CoreDeps, "config" | "clock">, token: string): Promise<LegacyToken | undefined> {
  const legacy = deps.config.legacySimpleJwt;
  const nowMs = deps.clock.now();
  if (legacy === undefined || (legacy.untilMs !== undefined && nowMs >= legacy.untilMs)) return undefined;
  if (token.length > MAX_TOKEN_LENGTH) return undefined;
  let payload: Record<string, unknown>;
  try {
    const verified = await jwtVerify(token, new TextEncoder().encode(legacy.signingKey), {
      algorithms: ["HS256"],
      requiredClaims: ["exp", "jti", "token_type"],
      clockTolerance: Math.floor(deps.config.tokens.leewayMs / 1000),
      currentDate: new Date(nowMs),
    });
    payload = verified.payload as Record<string, unknown>;
  } catch (error) {
    if (error instanceof errors.JWTExpired && error.claim === "exp") throw new AppError("token_expired", "legacy token: exp is in the past");
    // Signed with the legacy key yet unreadable claims: not valid. Anything else was not its token.
    if (error instanceof errors.JWTClaimValidationFailed || error instanceof errors.JWTInvalid) throw new AppError("token_not_valid", "legacy token: claims not valid");
    return undefined;
  }
  if (payload.token_type !== "refresh") {
    throw new AppError(payload.token_type === "access" ? "token_wrong_type" : "token_not_valid", "legacy token: token_type is not refresh");
  }
  const legacyId = legacyIdOf(payload.user_id);
  const { jti, exp } = payload;
  if (legacyId === undefined || typeof jti !== "string" || jti === "" || typeof exp !== "number") {
    throw new AppError("token_not_valid", "legacy token: user_id or jti not valid");
  }
  return { legacyId, jti, expiresAt: new Date(exp * 1000) };
}

/** The Django id a user_id claim names, in decimal; undefined when it names none. */
function legacyIdOf(claim: unknown): string | undefined {
  const text = typeof claim === "number" && Number.isSafeInteger(claim) ? String(claim) : claim;
  if (typeof text !== "string" || !DECIMAL_ID.test(text) || BigInt(text) > MAX_LEGACY_ID) return undefined;
  return text;
}

/**
 * Exchanges a legacy token for the usual token pair of a new session of its user.
 * The store spends the jti in the same statement that starts the session, so one
 * presentation wins however many race; the rest hear token_blacklisted.
 */
export async function exchangeLegacyToken(deps: CoreDeps, token: LegacyToken, client: ClientInfo): Promise<TokenPair> {
  const session = newSession(deps, deps.clock.now(), client);
  const { updateLastLogin } = deps.config.tokens;
  // The Django id, not the jti: operators can find the person in the old system's
  // records, and nothing of the token is kept.
  const note: AuditNote = { type: "legacy.token_exchanged", client, details: { legacy_id: token.legacyId } };
  const exchanged = await deps.sessions.exchangeLegacy(token, session, updateLastLogin, note);
  switch (exchanged.kind) {
    case "spent":
      throw new AppError("token_blacklisted", "legacy token blacklisted or exchanged already");
    case "not_imported":
      throw new AppError("token_not_valid", "legacy token of a user not imported");
    case "inactive":
      throw new AppError("account_disabled");
    case "started":
      return (await completeSignIn(deps, exchanged.user, session, updateLastLogin)).tokens;
  }
}
