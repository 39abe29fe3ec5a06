/**
 * Strict validation of a token's form, signature and claims. Whether its session is
 * still live is a separate question (sessions/liveness.ts).
 */
import { AppError } from "../errors.js";
import { jsonObjectOf, jwsRefusal } from "./jws.js";
import type { VerifyingKeys } from "./keys.js";
import type { TokenClaims, TokenType } from "./claims.js";

export interface VerifyOptions {
  issuer?: string | undefined;
  audience?: string | undefined;
  leewayMs: number;
  /** The longest a token of this type may live (bounds `iat`). */
  maxLifetimeMs: number;
  nowMs: number;
  /** Called with the reason of each refusal (debug logging). */
  onRefused?: (why: string) => void;
}

/** Far more than any token this service issues; longer input is refused unread. */
export const MAX_TOKEN_LENGTH = 8192;
/** Present in every token (jose's `requiredClaims`, as verification asked of it). */
const REQUIRED_CLAIMS = ["exp", "iat", "jti", "token_type"] as const;
const STRING_CLAIMS = ["jti", "sub", "user_id", "sid", "phone", "first_name", "last_name"] as const;
/** Identifiers: present is not enough, they must name something. */
const ID_CLAIMS = ["jti", "sub", "sid"] as const;
const BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const SEGMENT = /^[A-Za-z0-9_-]+$/;
/** How base64url text of "{..." begins: no BOM or whitespace before the object (of the other
 * bytes this letter admits, "x", "y" and "z", JSON.parse makes short work). */
const OPENING_BRACE = BASE64URL[0x7b >> 2]!;

/**
 * Returns the claims of a valid token of `expected` type, or throws AppError with
 * `token_not_valid`, `token_expired` or `token_wrong_type`.
 */
export async function verifyToken(keys: VerifyingKeys, token: string, expected: TokenType, options: VerifyOptions): Promise<TokenClaims> {
  const refuse = (reason: "token_not_valid" | "token_expired" | "token_wrong_type", why: string): never => {
    options.onRefused?.(why);
    throw new AppError(reason, why);
  };
  if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) refuse("token_not_valid", "empty or oversized token");
  const segments = canonicalSegments(token);
  if (segments === undefined) return refuse("token_not_valid", "not three canonical base64url segments");
  const jws = jwsRefusal(keys, segments);
  if (jws !== undefined) refuse("token_not_valid", jws);
  const payload = jsonObjectOf(segments[1]);
  if (payload === undefined) return refuse("token_not_valid", "ERR_JWT_INVALID");
  const registered = registeredClaimsRefusal(payload, options);
  if (registered === "ERR_JWT_EXPIRED") refuse("token_expired", "exp is in the past");
  if (registered !== undefined) refuse("token_not_valid", registered);

  if (payload.token_type !== expected) {
    return refuse(payload.token_type === "access" || payload.token_type === "refresh" ? "token_wrong_type" : "token_not_valid", `token_type is not ${expected}`);
  }
  // The bound on `iat` depends on the type, so it is checked once the type is known
  // (else a refresh token older than an access token may live reads as not valid,
  // not as the wrong type, and Introspect would not try it as a refresh token).
  // Whole seconds and tolerance, as jose's maxTokenAge counts them.
  const age = Math.floor(options.nowMs / 1000) - (payload.iat as number);
  const tolerance = Math.floor(options.leewayMs / 1000);
  if (age < -tolerance) refuse("token_not_valid", "iat is in the future");
  if (age - tolerance > Math.ceil(options.maxLifetimeMs / 1000)) refuse("token_not_valid", "iat is further back than a token of this type lives");
  // Whole seconds, and no longer-lived than the type: `exp` reaches Timestamps and
  // BigInts on the way out, and only a signer gone wrong would write otherwise.
  const exp = payload.exp as number;
  if (!Number.isSafeInteger(exp) || !Number.isSafeInteger(payload.iat)) refuse("token_not_valid", "exp or iat is not a whole number of seconds");
  if (exp - (payload.iat as number) > Math.ceil(options.maxLifetimeMs / 1000)) refuse("token_not_valid", "exp is further from iat than a token of this type lives");
  for (const claim of STRING_CLAIMS) {
    if (typeof payload[claim] !== "string") refuse("token_not_valid", `claim ${claim} missing or not a string`);
  }
  for (const claim of ID_CLAIMS) {
    if (payload[claim] === "") refuse("token_not_valid", `claim ${claim} is empty`);
  }
  if (payload.iss !== undefined && typeof payload.iss !== "string") refuse("token_not_valid", "claim iss is not a string");
  const { aud } = payload;
  if (aud !== undefined && typeof aud !== "string" && !(Array.isArray(aud) && aud.every((a) => typeof a === "string"))) {
    refuse("token_not_valid", "claim aud is not a string or a list of strings");
  }
  if (typeof payload.is_staff !== "boolean") refuse("token_not_valid", "claim is_staff missing or not a boolean");
  if (payload.sub !== payload.user_id) refuse("token_not_valid", "sub and user_id differ");
  return payload as TokenClaims;
}

/**
 * Exactly three segments of unpadded base64url (RFC 7515 §2, §7.1), each the one
 * spelling of its bytes, and header and payload JSON that open with their brace.
 * jose's decoder (atob) also takes padding, whitespace and stray bits in the last
 * character, and TextDecoder drops a leading BOM: the same token could be written
 * many ways, and one that differs from what was issued must not pass.
 */
function canonicalSegments(token: string): [string, string, string] | undefined {
  const segments = token.split(".");
  if (segments.length !== 3) return undefined;
  for (const segment of segments) {
    if (!SEGMENT.test(segment)) return undefined;
    // Two or three characters left over carry 4 or 2 bits past the last byte: zero.
    const rest = segment.length % 4;
    if (rest === 1) return undefined;
    if (rest > 1 && (BASE64URL.indexOf(segment.at(-1)!) & (rest === 2 ? 0x0f : 0x03)) !== 0) return undefined;
  }
  if (!segments[0]!.startsWith(OPENING_BRACE) || !segments[1]!.startsWith(OPENING_BRACE)) return undefined;
  return segments as [string, string, string];
}

/**
 * The registered claims, checked as jose's validateClaimsSet did for jwtVerify with
 * the options this module gave it (required claims, issuer, audience, clock tolerance),
 * in its order, with its codes (ERR_JWT_EXPIRED: `exp` is in the past). One thing
 * more: `iat`, `nbf` and `exp` must be finite (JSON's 1e400 parses to Infinity).
 */
function registeredClaimsRefusal(payload: Record<string, unknown>, options: VerifyOptions): string | undefined {
  const required: string[] = [...REQUIRED_CLAIMS];
  if (options.audience !== undefined) required.push("aud");
  if (options.issuer !== undefined) required.push("iss");
  if (required.some((claim) => !Object.hasOwn(payload, claim))) return "ERR_JWT_CLAIM_VALIDATION_FAILED";
  if (options.issuer !== undefined && payload.iss !== options.issuer) return "ERR_JWT_CLAIM_VALIDATION_FAILED";
  if (options.audience !== undefined && !audienceIncludes(payload.aud, options.audience)) return "ERR_JWT_CLAIM_VALIDATION_FAILED";
  const now = Math.floor(options.nowMs / 1000);
  const tolerance = Math.floor(options.leewayMs / 1000);
  const { iat, nbf, exp } = payload;
  if (!Number.isFinite(iat)) return "ERR_JWT_CLAIM_VALIDATION_FAILED";
  if (nbf !== undefined && (!Number.isFinite(nbf) || (nbf as number) > now + tolerance)) return "ERR_JWT_CLAIM_VALIDATION_FAILED";
  if (!Number.isFinite(exp)) return "ERR_JWT_CLAIM_VALIDATION_FAILED";
  if ((exp as number) <= now - tolerance) return "ERR_JWT_EXPIRED";
  return undefined;
}

function audienceIncludes(aud: unknown, audience: string): boolean {
  return typeof aud === "string" ? aud === audience : Array.isArray(aud) && aud.includes(audience);
}
