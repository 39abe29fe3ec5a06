/**
 * Signs tokens with node:crypto. Signing handles only our own output (no parsing
 * of untrusted input), and on Node 20 it is about four times faster than the
 * WebCrypto path jose takes. Verification goes through node:crypto too (jws.ts, for
 * the same reason: it is on every Refresh and authenticated call), so the tests also
 * verify issued tokens with jose against the published JWKS: an independent reader.
 */
import { createHmac, sign } from "node:crypto";
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

const headers = new WeakMap<KeyRing, string>();

/** The encoded protected header: the same for every token of a key ring. */
function encodedHeader(keys: KeyRing): string {
  let header = headers.get(keys);
  if (header === undefined) {
    header = Buffer.from(JSON.stringify({ alg: keys.signing.alg, kid: keys.signing.kid, typ: "JWT" })).toString("base64url");
    headers.set(keys, header);
  }
  return header;
}

function signature(keys: KeyRing, input: string): Buffer {
  const { alg, key } = keys.signing;
  switch (alg) {
    case "HS256":
      return createHmac("sha256", key).update(input).digest();
    case "ES256":
      // JWS wants the raw r||s form (RFC 7518 §3.4), not DER.
      return sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" });
    case "RS256":
      return sign("sha256", Buffer.from(input), key);
    case "EdDSA":
      return sign(null, Buffer.from(input), key);
  }
}

/** Signs one token with the ring's signing key; `kid` and `typ` are in the header. */
export function signToken(keys: KeyRing, spec: TokenSpec, options: SignOptions): string {
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
  const input = `${encodedHeader(keys)}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}`;
  return `${input}.${signature(keys, input).toString("base64url")}`;
}
