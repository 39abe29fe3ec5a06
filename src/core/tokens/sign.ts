import { SignJWT } from "jose";
import type { KeyRing } from "./keys.js";
import { RESERVED_CLAIMS, type ExtraClaims, type TokenClaims, type TokenType, type TokenUser } from "./claims.js";

export interface TokenSpec {
  type: TokenType;
  jti: string;
  sid: string;
  user: TokenUser;
  issuedAtMs: number;
  expiresAtMs: number;
}

export interface SignOptions {
  issuer?: string | undefined;
  audience?: string | undefined;
  extraClaims?: ExtraClaims | undefined;
}

/** Signs one token with the ring's signing key; `kid` and `typ` are in the header. */
export async function signToken(keys: KeyRing, spec: TokenSpec, options: SignOptions): Promise<string> {
  const extra = options.extraClaims?.(spec.user) ?? {};
  const claims: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(extra)) {
    if (!RESERVED_CLAIMS.has(name)) claims[name] = value;
  }
  const payload: TokenClaims = {
    ...claims,
    token_type: spec.type,
    exp: Math.floor(spec.expiresAtMs / 1000),
    iat: Math.floor(spec.issuedAtMs / 1000),
    jti: spec.jti,
    sub: spec.user.id,
    user_id: spec.user.id,
    sid: spec.sid,
    phone: spec.user.phone,
    first_name: spec.user.first_name,
    last_name: spec.user.last_name,
    is_staff: spec.user.is_staff,
  };
  if (options.issuer !== undefined) payload.iss = options.issuer;
  if (options.audience !== undefined) payload.aud = options.audience;
  return new SignJWT(payload)
    .setProtectedHeader({ alg: keys.signing.alg, kid: keys.signing.kid, typ: "JWT" })
    .sign(keys.signing.key);
}
