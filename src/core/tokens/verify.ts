/**
 * Strict validation of a token's form, signature and claims. Whether its session is
 * still live is a separate question (sessions/state.ts).
 */
import { errors, jwtVerify, type JWTHeaderParameters } from "jose";
import { AppError } from "../errors.js";
import type { KeyRing } from "./keys.js";
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
const MAX_TOKEN_LENGTH = 8192;
const ALLOWED_HEADER = new Set(["alg", "kid", "typ"]);
const STRING_CLAIMS = ["jti", "sub", "user_id", "sid", "phone", "first_name", "last_name"] as const;

/**
 * Returns the claims of a valid token of `expected` type, or throws AppError with
 * `token_not_valid`, `token_expired` or `token_wrong_type`.
 */
export async function verifyToken(keys: KeyRing, token: string, expected: TokenType, options: VerifyOptions): Promise<TokenClaims> {
  const refuse = (reason: "token_not_valid" | "token_expired" | "token_wrong_type", why: string): never => {
    options.onRefused?.(why);
    throw new AppError(reason, why);
  };
  if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) refuse("token_not_valid", "empty or oversized token");

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
  for (const claim of STRING_CLAIMS) {
    if (typeof payload[claim] !== "string") refuse("token_not_valid", `claim ${claim} missing or not a string`);
  }
  if (typeof payload.is_staff !== "boolean") refuse("token_not_valid", "claim is_staff missing or not a boolean");
  if (payload.sub !== payload.user_id) refuse("token_not_valid", "sub and user_id differ");
  return payload as TokenClaims;
}

/** `kid` only selects among configured keys, and the key's own algorithm must match. */
function keyFor(keys: KeyRing, header: JWTHeaderParameters): CryptoKey | Uint8Array {
  for (const name of Object.keys(header)) {
    if (!ALLOWED_HEADER.has(name)) throw new errors.JWSInvalid(`header parameter ${name} is not accepted`);
  }
  const entry = typeof header.kid === "string" ? keys.verification.get(header.kid) : undefined;
  if (entry === undefined || entry.alg !== header.alg) throw new errors.JWKSNoMatchingKey();
  return entry.key;
}
