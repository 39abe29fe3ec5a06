/**
 * Strict validation of a token's form, signature and claims. Whether its session is
 * still live is a separate question (sessions/liveness.ts).
 */
import { errors, jwtVerify, type JWTHeaderParameters } from "jose";
import { AppError } from "../errors.js";
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
const ALLOWED_HEADER = new Set(["alg", "kid", "typ"]);
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
  if (!canonicalForm(token)) refuse("token_not_valid", "not three canonical base64url segments");

  let payload: Record<string, unknown>;
  try {
    const verified = await jwtVerify(token, (header: JWTHeaderParameters) => keyFor(keys, header), {
      algorithms: [...keys.algorithms],
      issuer: options.issuer,
      audience: options.audience,
      clockTolerance: Math.floor(options.leewayMs / 1000),
      requiredClaims: ["exp", "iat", "jti", "token_type"],
      currentDate: new Date(options.nowMs),
    });
    payload = verified.payload as Record<string, unknown>;
  } catch (error) {
    if (error instanceof errors.JWTExpired && error.claim === "exp") return refuse("token_expired", "exp is in the past");
    return refuse("token_not_valid", error instanceof errors.JOSEError ? error.code : "unreadable token");
  }

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
function canonicalForm(token: string): boolean {
  const segments = token.split(".");
  if (segments.length !== 3) return false;
  for (const segment of segments) {
    if (!SEGMENT.test(segment)) return false;
    // Two or three characters left over carry 4 or 2 bits past the last byte: zero.
    const rest = segment.length % 4;
    if (rest === 1) return false;
    if (rest > 1 && (BASE64URL.indexOf(segment.at(-1)!) & (rest === 2 ? 0x0f : 0x03)) !== 0) return false;
  }
  return segments[0]!.startsWith(OPENING_BRACE) && segments[1]!.startsWith(OPENING_BRACE);
}

/** `kid` only selects among configured keys, and the key's own algorithm must match. */
function keyFor(keys: VerifyingKeys, header: JWTHeaderParameters): CryptoKey | Uint8Array {
  for (const name of Object.keys(header)) {
    if (!ALLOWED_HEADER.has(name)) throw new errors.JWSInvalid(`header parameter ${name} is not accepted`);
  }
  // Explicit typing (RFC 8725 §3.11): this service writes "JWT" and nothing else.
  if (header.typ !== undefined && header.typ !== "JWT") throw new errors.JWSInvalid("typ is not JWT");
  const entry = typeof header.kid === "string" ? keys.verification.get(header.kid) : undefined;
  if (entry === undefined || entry.alg !== header.alg) throw new errors.JWKSNoMatchingKey();
  return entry.key;
}
