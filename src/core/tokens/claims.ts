/** The claims of the tokens this service issues (SimpleJWT-compatible names). */
export type TokenType = "access" | "refresh";

export interface TokenUser {
  id: string;
  phone: string;
  first_name: string;
  last_name: string;
  is_staff: boolean;
}

/** Claims every token carries; deployments may add their own via `extraClaims`. */
export interface TokenClaims {
  token_type: TokenType;
  /** Seconds since the epoch. */
  exp: number;
  iat: number;
  jti: string;
  sub: string;
  user_id: string;
  /** The session: one login and the refresh chain that follows it. */
  sid: string;
  phone: string;
  first_name: string;
  last_name: string;
  is_staff: boolean;
  iss?: string;
  aud?: string | string[];
  [extra: string]: unknown;
}

/** Claims this service sets itself; an `extraClaims` hook cannot override them. */
export const RESERVED_CLAIMS: ReadonlySet<string> = new Set([
  "token_type", "exp", "iat", "nbf", "jti", "sub", "user_id", "sid", "phone",
  "first_name", "last_name", "is_staff", "iss", "aud",
]);

/** A deployment's own claims, computed from the user and added to every token it
 * issues; they cannot replace a RESERVED_CLAIMS name. */
export type ExtraClaims = (user: TokenUser) => Record<string, unknown>;

export function userOfClaims(claims: TokenClaims): TokenUser {
  return {
    id: claims.sub,
    phone: claims.phone,
    first_name: claims.first_name,
    last_name: claims.last_name,
    is_staff: claims.is_staff,
  };
}
