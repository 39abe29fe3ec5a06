/**
 * Tokens in the exact shape SimpleJWT 5.x writes them (HS256 under Django's signing
 * key; header {"alg":"HS256","typ":"JWT"}; claims token_type, exp, iat, jti,
 * user_id, plus the Django project's phone, first_name, last_name, is_staff), for
 * tests of the exchange that need a token Django could have made but did not.
 */
import { randomUUID } from "node:crypto";
import { SignJWT } from "jose";

/** A signing key as Django makes SECRET_KEY: 50 characters with punctuation. */
export const LEGACY_SIGNING_KEY = "django-insecure-7f#k2q!x9v$u@e1w^r8t&y(0p)z+m=n_s";

export interface SimpleJwtClaims {
  /** The Django user's id: a number as SimpleJWT 5.x writes it, a string as newer versions do. */
  userId: number | string;
  tokenType?: "refresh" | "access";
  /** uuid4().hex, as SimpleJWT makes it, unless given. */
  jti?: string;
  /** Seconds since the epoch. */
  iat: number;
  exp: number;
  phone?: string;
}

/** A SimpleJWT token signed with `key` (LEGACY_SIGNING_KEY unless given). */
export function simpleJwt(claims: SimpleJwtClaims, key = LEGACY_SIGNING_KEY): Promise<string> {
  return signSimpleJwt({
    token_type: claims.tokenType ?? "refresh",
    exp: claims.exp,
    iat: claims.iat,
    jti: claims.jti ?? randomUUID().replaceAll("-", ""),
    user_id: claims.userId,
    phone: claims.phone ?? "09121234567",
    first_name: "Sara",
    last_name: "Ahmadi",
    is_staff: false,
  }, key);
}

/** Any payload, signed as SimpleJWT signs (for claims SimpleJWT would never write). */
export function signSimpleJwt(payload: Record<string, unknown>, key = LEGACY_SIGNING_KEY): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(new TextEncoder().encode(key));
}
