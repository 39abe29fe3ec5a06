/**
 * Keys and algorithms at the unit level: the key ring from configuration strings,
 * signing, and strict verification (what a token's header may and may not do).
 */
import { createHmac, generateKeyPairSync } from "node:crypto";
import { exportJWK, exportPKCS8, exportSPKI, generateKeyPair, SignJWT, type JWK } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import type { JwtAlgorithm } from "../src/config.js";
import { AppError } from "../src/core/errors.js";
import { createKeyRing, KeyError, type KeyRing } from "../src/core/tokens/keys.js";
import { signToken, type SignOptions, type TokenSpec } from "../src/core/tokens/sign.js";
import { verifyToken, type VerifyOptions } from "../src/core/tokens/verify.js";
import { jwtHeader, jwtPayload } from "./support/tools.js";

type Asymmetric = Exclude<JwtAlgorithm, "HS256">;
const ASYMMETRIC: Asymmetric[] = ["ES256", "EdDSA", "RS256"];
const HS_SECRET = "an-hs256-secret-of-at-least-32-bytes!";

interface Pair {
  privatePem: string;
  publicPem: string;
  privateJwk: JWK;
  publicJwk: JWK;
  privateKey: CryptoKey;
}

async function generate(alg: Asymmetric): Promise<Pair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return {
    privatePem: await exportPKCS8(privateKey),
    publicPem: await exportSPKI(publicKey),
    privateJwk: await exportJWK(privateKey),
    publicJwk: await exportJWK(publicKey),
    privateKey,
  };
}

const now = Date.now();
const user = { id: "0b7c4f5e-3a0e-4a8e-9d38-7f7f1f0c2a11", phone: "+989121234567", first_name: "Sara", last_name: "Ahmadi", is_staff: false };
const spec = (over: Partial<TokenSpec> = {}): TokenSpec => ({ type: "access", jti: "jti-1", sid: "sid-1", user, issuedAtMs: now, expiresAtMs: now + 60_000, ...over });
const options = (over: Partial<VerifyOptions> = {}): VerifyOptions => ({ leewayMs: 0, maxLifetimeMs: 3_600_000, nowMs: now, ...over });

/** The reason `verifyToken` refuses with (fails the test if it accepts). */
async function refusedWith(keys: KeyRing, token: string, over: Partial<VerifyOptions> = {}): Promise<string> {
  try {
    await verifyToken(keys, token, "access", options(over));
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    return (error as AppError).reason;
  }
  throw new Error("the token was accepted");
}

async function keyErrorOf(run: Promise<unknown>): Promise<KeyError> {
  try {
    await run;
  } catch (error) {
    expect(error).toBeInstanceOf(KeyError);
    return error as KeyError;
  }
  throw new Error("no KeyError");
}

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

const pairs = {} as Record<Asymmetric, Pair>;
beforeAll(async () => {
  for (const alg of ASYMMETRIC) pairs[alg] = await generate(alg);
});

describe("each JWT_ALGORITHM", () => {
  it.each(["HS256", ...ASYMMETRIC] as JwtAlgorithm[])("%s signs tokens that verify, with alg and kid in the header", async (alg) => {
    const keys = await createKeyRing({ algorithm: alg, signingKey: alg === "HS256" ? HS_SECRET : pairs[alg].privatePem });
    const token = signToken(keys, spec(), {});
    expect(jwtHeader(token)).toEqual({ alg, kid: keys.signing.kid, typ: "JWT" });
    const claims = await verifyToken(keys, token, "access", options());
    expect(claims).toMatchObject({ token_type: "access", jti: "jti-1", sid: "sid-1", sub: user.id, user_id: user.id, phone: user.phone, is_staff: false });
    expect(claims.exp).toBe(Math.floor((now + 60_000) / 1000));
  });

  it("publishes no JWK for HS256 (the secret stays secret, its kid is not derived reversibly)", async () => {
    const keys = await createKeyRing({ algorithm: "HS256", signingKey: HS_SECRET });
    expect(keys.jwks).toEqual([]);
    expect(keys.signing.kid).not.toContain(HS_SECRET.slice(0, 8));
  });

  it.each([
    ["ES256", { kty: "EC", crv: "P-256" }],
    ["EdDSA", { kty: "OKP", crv: "Ed25519" }],
    ["RS256", { kty: "RSA" }],
  ] as const)("publishes the %s public key with the right kty, crv and alg, and nothing private", async (alg, shape) => {
    const keys = await createKeyRing({ algorithm: alg, signingKey: pairs[alg].privatePem });
    expect(keys.jwks).toHaveLength(1);
    const jwk = keys.jwks[0]!;
    expect(jwk).toMatchObject({ ...shape, alg, use: "sig", kid: keys.signing.kid });
    for (const member of ["d", "p", "q", "dp", "dq", "qi", "k"]) expect(jwk).not.toHaveProperty(member);
    if (alg === "RS256") expect(jwk).toMatchObject({ n: pairs.RS256.publicJwk.n, e: "AQAB" });
    else expect(jwk.x).toBe(pairs[alg].publicJwk.x);
  });

  it.each(["ES256", "EdDSA"] as const)("accepts a %s private JWK as JWT_SIGNING_KEY (same kid as its PEM)", async (alg) => {
    const fromJwk = await createKeyRing({ algorithm: alg, signingKey: JSON.stringify(pairs[alg].privateJwk) });
    const fromPem = await createKeyRing({ algorithm: alg, signingKey: pairs[alg].privatePem });
    expect(fromJwk.signing.kid).toBe(fromPem.signing.kid);
    const token = signToken(fromJwk, spec(), {});
    await verifyToken(fromPem, token, "access", options());
  });

  it("accepts a PEM written on one line with \\n escapes, as .env files hold it", async () => {
    const keys = await createKeyRing({ algorithm: "ES256", signingKey: pairs.ES256.privatePem.replace(/\n/g, "\\n") });
    expect(keys.signing.kid).toBe((await createKeyRing({ algorithm: "ES256", signingKey: pairs.ES256.privatePem })).signing.kid);
  });
});

describe("keys refused at start", () => {
  it("refuses RS256 keys under 2048 bits, signing or verifying", async () => {
    const small = generateKeyPairSync("rsa", { modulusLength: 1024 });
    const privatePem = small.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const publicPem = small.publicKey.export({ type: "spki", format: "pem" }).toString();
    const signing = await keyErrorOf(createKeyRing({ algorithm: "RS256", signingKey: privatePem }));
    expect(signing.variable).toBe("JWT_SIGNING_KEY");
    expect(signing.message).toMatch(/2048/);
    const verifying = await keyErrorOf(createKeyRing({ algorithm: "RS256", signingKey: pairs.RS256.privatePem, verifyKeys: publicPem }));
    expect(verifying.variable).toBe("JWT_VERIFY_KEYS");
  });

  it("refuses an HS256 secret under 32 bytes, a key of another algorithm, garbage, and private keys among the verify keys", async () => {
    expect((await keyErrorOf(createKeyRing({ algorithm: "HS256", signingKey: "short" }))).variable).toBe("JWT_SIGNING_KEY");
    expect((await keyErrorOf(createKeyRing({ algorithm: "ES256", signingKey: pairs.EdDSA.privatePem }))).variable).toBe("JWT_SIGNING_KEY");
    expect((await keyErrorOf(createKeyRing({ algorithm: "RS256", signingKey: "not a key" }))).variable).toBe("JWT_SIGNING_KEY");
    expect((await keyErrorOf(createKeyRing({ algorithm: "ES256", signingKey: JSON.stringify(pairs.ES256.publicJwk) }))).variable).toBe("JWT_SIGNING_KEY");
    const privateAmongPublic = await keyErrorOf(createKeyRing({ algorithm: "ES256", signingKey: pairs.ES256.privatePem, verifyKeys: JSON.stringify({ keys: [pairs.EdDSA.privateJwk] }) }));
    expect(privateAmongPublic.variable).toBe("JWT_VERIFY_KEYS");
    expect(privateAmongPublic.message).not.toContain(String(pairs.EdDSA.privateJwk.d));
    expect((await keyErrorOf(createKeyRing({ algorithm: "ES256", signingKey: pairs.ES256.privatePem, verifyKeys: "{not json" }))).variable).toBe("JWT_VERIFY_KEYS");
  });
});

describe("key rotation with JWT_VERIFY_KEYS", () => {
  it.each(ASYMMETRIC)("%s: a token of the old key verifies while its public key is listed (PEM, JWKS or JWK array), and not after", async (alg) => {
    const old = await createKeyRing({ algorithm: alg, signingKey: pairs[alg].privatePem });
    const token = signToken(old, spec(), {});
    const next = await generate(alg);
    for (const verifyKeys of [pairs[alg].publicPem, JSON.stringify({ keys: [pairs[alg].publicJwk] }), JSON.stringify([pairs[alg].publicJwk])]) {
      const rotated = await createKeyRing({ algorithm: alg, signingKey: next.privatePem, verifyKeys });
      await verifyToken(rotated, token, "access", options());
      // New tokens are signed by the new key, and both keys are published, new first.
      expect(jwtHeader(signToken(rotated, spec(), {})).kid).toBe(rotated.signing.kid);
      expect(rotated.jwks.map((k) => k.kid)).toEqual([rotated.signing.kid, old.signing.kid]);
    }
    const without = await createKeyRing({ algorithm: alg, signingKey: next.privatePem });
    expect(await refusedWith(without, token)).toBe("token_not_valid");
  });

  it("HS256: a token of the old secret verifies while the secret is listed, and not after", async () => {
    const oldSecret = "the-old-hs256-secret-also-32-bytes-long";
    const token = signToken(await createKeyRing({ algorithm: "HS256", signingKey: oldSecret }), spec(), {});
    await verifyToken(await createKeyRing({ algorithm: "HS256", signingKey: HS_SECRET, verifyKeys: oldSecret }), token, "access", options());
    expect(await refusedWith(await createKeyRing({ algorithm: "HS256", signingKey: HS_SECRET }), token)).toBe("token_not_valid");
  });

  it("moves between algorithms: an ES256 deployment can still accept the EdDSA tokens of its previous key", async () => {
    const old = await createKeyRing({ algorithm: "EdDSA", signingKey: pairs.EdDSA.privatePem });
    const token = signToken(old, spec(), {});
    const rotated = await createKeyRing({ algorithm: "ES256", signingKey: pairs.ES256.privatePem, verifyKeys: pairs.EdDSA.publicPem });
    await verifyToken(rotated, token, "access", options());
  });
});

describe("tokens refused (token_not_valid)", () => {
  let keys: KeyRing;
  let claims: Record<string, unknown>;
  beforeAll(async () => {
    keys = await createKeyRing({ algorithm: "ES256", signingKey: pairs.ES256.privatePem });
    claims = jwtPayload(signToken(keys, spec(), {}));
  });

  const signed = (header: Record<string, unknown>, payload = claims) =>
    new SignJWT(payload).setProtectedHeader({ alg: "ES256", kid: keys.signing.kid, typ: "JWT", ...header } as never).sign(pairs.ES256.privateKey);

  it("with a kid no configured key has, even when the signature is good", async () => {
    const other = await generate("ES256");
    const token = await new SignJWT(claims).setProtectedHeader({ alg: "ES256", kid: "someone-elses-key" }).sign(other.privateKey);
    expect(await refusedWith(keys, token)).toBe("token_not_valid");
    expect(await refusedWith(keys, await signed({ kid: "unknown" }))).toBe("token_not_valid");
    expect(await refusedWith(keys, await signed({ kid: undefined }))).toBe("token_not_valid");
  });

  it("with alg none", async () => {
    for (const header of [{ alg: "none" }, { alg: "none", kid: keys.signing.kid }, { alg: "None", kid: keys.signing.kid }]) {
      expect(await refusedWith(keys, `${b64(header)}.${b64(claims)}.`)).toBe("token_not_valid");
    }
  });

  it.each([
    ["jku", "https://attacker.example/jwks.json"],
    ["x5u", "https://attacker.example/cert.pem"],
    ["jwk", { kty: "EC", crv: "P-256", x: "AAAA", y: "AAAA" }],
    ["x5c", ["MIIB"]],
  ])("with a %s header, though signed by the right key", async (name, value) => {
    expect(await refusedWith(keys, await signed({ [name]: value }))).toBe("token_not_valid");
  });

  it("HS256-signed with the public key as the secret (algorithm confusion), in PEM or JWK form", async () => {
    for (const secret of [pairs.ES256.publicPem, JSON.stringify(keys.jwks[0])]) {
      const input = `${b64({ alg: "HS256", kid: keys.signing.kid, typ: "JWT" })}.${b64(claims)}`;
      const signature = createHmac("sha256", secret).update(input).digest("base64url");
      expect(await refusedWith(keys, `${input}.${signature}`)).toBe("token_not_valid");
    }
  });

  it("with the right kid but another algorithm named", async () => {
    const rsa = await createKeyRing({ algorithm: "RS256", signingKey: pairs.RS256.privatePem });
    const token = await new SignJWT(claims).setProtectedHeader({ alg: "RS256", kid: keys.signing.kid }).sign(pairs.RS256.privateKey);
    expect(rsa.signing.kid).not.toBe(keys.signing.kid);
    expect(await refusedWith(keys, token)).toBe("token_not_valid");
  });

  it("with a claim missing, a tampered payload, or iat in the future", async () => {
    for (const missing of ["jti", "sid", "sub", "exp", "iat", "token_type"]) {
      const { [missing]: _gone, ...rest } = claims;
      expect(await refusedWith(keys, await signed({}, rest))).toBe("token_not_valid");
    }
    const good = await signed({});
    const [h, , s] = good.split(".");
    expect(await refusedWith(keys, `${h}.${b64({ ...claims, is_staff: true })}.${s}`)).toBe("token_not_valid");
    expect(await refusedWith(keys, await signed({}, { ...claims, iat: Math.floor(now / 1000) + 60 }))).toBe("token_not_valid");
    expect(await refusedWith(keys, await signed({}, { ...claims, sub: "someone-else" }))).toBe("token_not_valid");
  });

  it("claiming to have lived longer than tokens of its type live; an old refresh token is still only the wrong type", async () => {
    const nowS = Math.floor(now / 1000);
    expect(await refusedWith(keys, await signed({}, { ...claims, iat: nowS - 7200, exp: nowS + 60 }))).toBe("token_not_valid");
    // Two hours is young for a refresh token: shown as an access token, it is the wrong type.
    expect(await refusedWith(keys, await signed({}, { ...claims, token_type: "refresh", iat: nowS - 7200, exp: nowS + 86_400 }))).toBe("token_wrong_type");
  });

  it("expired (token_expired), and of the wrong type (token_wrong_type)", async () => {
    expect(await refusedWith(keys, await signed({}), { nowMs: now + 61_000 })).toBe("token_expired");
    expect(await refusedWith(keys, await signed({}, { ...claims, token_type: "refresh" }))).toBe("token_wrong_type");
  });
});

describe("JWT_ISSUER and JWT_AUDIENCE", () => {
  it("puts them in tokens, and refuses tokens without them or with other values", async () => {
    const keys = await createKeyRing({ algorithm: "ES256", signingKey: pairs.ES256.privatePem });
    const configured: SignOptions = { issuer: "https://id.example", audience: "shop" };
    const check = { issuer: "https://id.example", audience: "shop" };
    const token = signToken(keys, spec(), configured);
    expect(jwtPayload(token)).toMatchObject({ iss: "https://id.example", aud: "shop" });
    await verifyToken(keys, token, "access", options(check));
    for (const other of [{}, { issuer: "https://evil.example", audience: "shop" }, { issuer: "https://id.example", audience: "other" }, { issuer: "https://id.example" }]) {
      expect(await refusedWith(keys, signToken(keys, spec(), other), check)).toBe("token_not_valid");
    }
  });
});

describe("the extraClaims hook", () => {
  it("adds a deployment's claims but cannot override reserved ones", async () => {
    const keys = await createKeyRing({ algorithm: "ES256", signingKey: pairs.ES256.privatePem });
    const extraClaims = () => ({ tenant: "acme", roles: ["editor"], sub: "admin", user_id: "admin", token_type: "refresh", is_staff: true, exp: 4_102_444_800, jti: "fixed", sid: "x", iss: "evil", aud: "evil", phone: "+1" });
    const token = signToken(keys, spec(), { extraClaims });
    const payload = jwtPayload(token);
    expect(payload).toMatchObject({ tenant: "acme", roles: ["editor"], sub: user.id, user_id: user.id, token_type: "access", is_staff: false, jti: "jti-1", sid: "sid-1", phone: user.phone });
    expect(payload.exp).toBe(Math.floor((now + 60_000) / 1000));
    expect(payload).not.toHaveProperty("iss");
    expect(payload).not.toHaveProperty("aud");
    await verifyToken(keys, token, "access", options());
  });
});
