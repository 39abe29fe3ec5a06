/**
 * The key ring: rotation through JWT_VERIFY_KEYS (an old key verifies while it is
 * listed), the published JWKS (public parts only), and keys that are refused.
 */
import { createHash, generateKeyPairSync } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { ConfigError } from "../../../src/config.js";
import { createKeyRing, KeyError } from "../../../src/core/tokens/keys.js";
import { signToken, type TokenSpec } from "../../../src/core/tokens/sign.js";
import { verifyToken } from "../../../src/core/tokens/verify.js";
import { SIGNING_SECRET } from "../support/core-deps.js";
import { keyPair, refusal, type Asymmetric, type KeyPair } from "../support/token-lab.js";

const NOW = Date.UTC(2026, 0, 1, 12);
const user = { id: "user-1", phone: "+989121234567", first_name: "Sara", last_name: "Ahmadi", is_staff: false };
const spec: TokenSpec = { type: "access", jti: "jti-1", sid: "sid-1", user, issuedAtMs: NOW, expiresAtMs: NOW + 60_000 };
const options = { leewayMs: 0, maxLifetimeMs: 3_600_000, nowMs: NOW };
const NEW_SECRET = "the-next-hs256-secret-of-32-bytes-or-more";
const PRIVATE = ["d", "p", "q", "dp", "dq", "qi", "k"];

const pairs = {} as Record<Asymmetric, KeyPair>;
beforeAll(() => {
  for (const alg of ["ES256", "EdDSA", "RS256"] as const) pairs[alg] = keyPair(alg);
});

/** The whole message of the KeyError a ring from these options ends in. */
async function keyProblem(options: Parameters<typeof createKeyRing>[0]): Promise<string> {
  return (await keyError(createKeyRing(options))).message;
}

async function keyError(run: Promise<unknown>): Promise<KeyError> {
  const error = await run.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(KeyError);
  expect(error).toBeInstanceOf(ConfigError);
  return error as KeyError;
}

describe("rotation", () => {
  it("HS256: the old secret verifies while listed in JWT_VERIFY_KEYS, and not after", async () => {
    const old = await createKeyRing({ algorithm: "HS256", signingKey: SIGNING_SECRET });
    const token = signToken(old, spec, {});
    const rotated = await createKeyRing({ algorithm: "HS256", signingKey: NEW_SECRET, verifyKeys: ` ${SIGNING_SECRET} , another-old-secret-of-32-bytes-or-more ` });
    expect(rotated.signing.kid).not.toBe(old.signing.kid);
    expect(rotated.verification.size).toBe(3);
    expect(await verifyToken(rotated, token, "access", options)).toMatchObject({ jti: "jti-1" });
    expect(await verifyToken(rotated, signToken(rotated, spec, {}), "access", options)).toMatchObject({ jti: "jti-1" });
    const done = await createKeyRing({ algorithm: "HS256", signingKey: NEW_SECRET });
    expect(await refusal(verifyToken(done, token, "access", options))).toEqual({ reason: "token_not_valid", message: "ERR_JWKS_NO_MATCHING_KEY" });
  });

  it.each(["ES256", "EdDSA", "RS256"] as const)("%s: the old public key (PEM or JWKS) verifies while listed", async (alg) => {
    const old = await createKeyRing({ algorithm: alg, signingKey: pairs[alg].privatePem });
    const token = signToken(old, spec, {});
    const next = keyPair(alg === "RS256" ? "ES256" : alg);
    for (const verifyKeys of [pairs[alg].publicPem, JSON.stringify({ keys: old.jwks }), JSON.stringify(old.jwks)]) {
      const rotated = await createKeyRing({ algorithm: alg === "RS256" ? "ES256" : alg, signingKey: next.privatePem, verifyKeys });
      expect(await verifyToken(rotated, token, "access", options)).toMatchObject({ jti: "jti-1" });
      expect(rotated.jwks.map((jwk) => jwk.kid)).toEqual([rotated.signing.kid, old.signing.kid]);
    }
  });

  it("lists a key once when it is both the signing key and among JWT_VERIFY_KEYS", async () => {
    const ring = await createKeyRing({ algorithm: "HS256", signingKey: SIGNING_SECRET, verifyKeys: SIGNING_SECRET });
    expect(ring.verification.size).toBe(1);
    expect(ring.algorithms).toEqual(["HS256"]);
  });
});

describe("the JWKS", () => {
  it.each(["ES256", "EdDSA", "RS256"] as const)("%s: publishes the public key only, with kid, alg and use", async (alg) => {
    const ring = await createKeyRing({ algorithm: alg, signingKey: pairs[alg].privatePem });
    expect(ring.jwks).toHaveLength(1);
    const [jwk] = ring.jwks;
    expect(jwk).toMatchObject({ kid: ring.signing.kid, alg, use: "sig" });
    for (const member of [...PRIVATE, "key_ops", "ext"]) expect(jwk).not.toHaveProperty(member);
    expect(JSON.stringify(ring.jwks)).not.toContain(pairs[alg].privateKey.export({ format: "jwk" }).d as string);
  });

  it("is empty for HS256 (a shared secret is never published), and its kid does not reveal it", async () => {
    const ring = await createKeyRing({ algorithm: "HS256", signingKey: SIGNING_SECRET });
    expect(ring.jwks).toEqual([]);
    expect(ring.signing.kid).toHaveLength(16);
    expect(ring.signing.kid).not.toContain(SIGNING_SECRET.slice(0, 8));
  });

  it("refuses private keys among JWT_VERIFY_KEYS", async () => {
    const privateJwk = pairs.ES256.privateKey.export({ format: "jwk" });
    const error = await keyError(createKeyRing({ algorithm: "HS256", signingKey: SIGNING_SECRET, verifyKeys: JSON.stringify({ keys: [privateJwk] }) }));
    expect(error).toMatchObject({ variable: "JWT_VERIFY_KEYS", name: "KeyError" });
  });
});

describe("keys that are refused", () => {
  it("a short HS256 secret", async () => {
    expect(await keyError(createKeyRing({ algorithm: "HS256", signingKey: "too-short" }))).toMatchObject({ variable: "JWT_SIGNING_KEY" });
    expect(await keyError(createKeyRing({ algorithm: "HS256", signingKey: SIGNING_SECRET, verifyKeys: "too-short" }))).toMatchObject({ variable: "JWT_VERIFY_KEYS" });
  });

  it("a private key of another algorithm, or none at all", async () => {
    expect(await keyError(createKeyRing({ algorithm: "ES256", signingKey: pairs.EdDSA.privatePem }))).toMatchObject({ variable: "JWT_SIGNING_KEY" });
    expect(await keyError(createKeyRing({ algorithm: "ES256", signingKey: JSON.stringify(pairs.ES256.publicKey.export({ format: "jwk" })) }))).toMatchObject({ variable: "JWT_SIGNING_KEY" });
  });
});

describe("configuration strings", () => {
  const verifies = async (ring: Awaited<ReturnType<typeof createKeyRing>>, token: string) => expect(await verifyToken(ring, token, "access", options)).toMatchObject({ jti: "jti-1" });

  it("takes the signing key as a private JWK (with space before it) as well as PEM, with the same kid", async () => {
    const fromPem = await createKeyRing({ algorithm: "ES256", signingKey: pairs.ES256.privatePem });
    const jwk = JSON.stringify(pairs.ES256.privateKey.export({ format: "jwk" }));
    for (const signingKey of [jwk, `  \n${jwk}`]) {
      const fromJwk = await createKeyRing({ algorithm: "ES256", signingKey });
      expect(fromJwk.signing.kid).toBe(fromPem.signing.kid);
      await verifies(fromPem, signToken(fromJwk, spec, {}));
    }
  });

  it("takes PEM written on one line with escaped newlines, as in an env file", async () => {
    const escaped = (pem: string) => pem.trimEnd().replace(/\n/g, "\\n");
    const ring = await createKeyRing({ algorithm: "EdDSA", signingKey: escaped(pairs.EdDSA.privatePem) });
    const old = await createKeyRing({ algorithm: "ES256", signingKey: pairs.ES256.privatePem });
    const rotated = await createKeyRing({ algorithm: "EdDSA", signingKey: pairs.EdDSA.privatePem, verifyKeys: escaped(pairs.ES256.publicPem) });
    await verifies(rotated, signToken(ring, spec, {}));
    await verifies(rotated, signToken(old, spec, {}));
  });

  it("derives an HS256 kid from the secret the same way everywhere", async () => {
    const ring = await createKeyRing({ algorithm: "HS256", signingKey: SIGNING_SECRET });
    const expected = createHash("sha256").update(`identity-hs256-kid:${SIGNING_SECRET}`).digest("base64url").slice(0, 16);
    expect(ring.signing.kid).toBe(expected);
  });

  it("publishes no JWK for an HS256 verify key, and each asymmetric key once", async () => {
    const hs = await createKeyRing({ algorithm: "HS256", signingKey: NEW_SECRET, verifyKeys: SIGNING_SECRET });
    expect(hs.jwks).toEqual([]);
    const es = await createKeyRing({ algorithm: "ES256", signingKey: pairs.ES256.privatePem, verifyKeys: pairs.ES256.publicPem });
    expect(es.jwks).toHaveLength(1);
    expect(es.verification.size).toBe(1);
  });

  it("takes several PEM keys, of any algorithm, whatever signs", async () => {
    const both = `${pairs.EdDSA.publicPem}\n${pairs.RS256.publicPem}`;
    const ring = await createKeyRing({ algorithm: "HS256", signingKey: SIGNING_SECRET, verifyKeys: both });
    expect(ring.algorithms).toEqual(["HS256", "EdDSA", "RS256"]);
    for (const alg of ["EdDSA", "RS256"] as const) await verifies(ring, signToken(await createKeyRing({ algorithm: alg, signingKey: pairs[alg].privatePem }), spec, {}));
  });

  it("names a JWKS key without kid by its thumbprint, and publishes it with alg and use only", async () => {
    const old = await createKeyRing({ algorithm: "EdDSA", signingKey: pairs.EdDSA.privatePem });
    const { kid: _kid, alg: _alg, use: _use, ...bare } = old.jwks[0]!;
    const rotated = await createKeyRing({ algorithm: "HS256", signingKey: SIGNING_SECRET, verifyKeys: JSON.stringify([{ ...bare, key_ops: ["verify"], alg: "Ed25519" }]) });
    expect(rotated.jwks).toEqual([{ ...bare, kid: old.signing.kid, alg: "EdDSA", use: "sig" }]);
    await verifies(rotated, signToken(old, spec, {}));
  });

  it("keeps a JWKS key's own kid", async () => {
    const old = await createKeyRing({ algorithm: "ES256", signingKey: pairs.ES256.privatePem });
    const rotated = await createKeyRing({ algorithm: "HS256", signingKey: SIGNING_SECRET, verifyKeys: JSON.stringify([{ ...old.jwks[0], kid: "2025-key" }]) });
    expect(rotated.jwks.map((jwk) => jwk.kid)).toEqual(["2025-key"]);
    expect(rotated.verification.get("2025-key")?.alg).toBe("ES256");
  });

  it("refuses RSA keys under 2048 bits, wherever they are given", async () => {
    const weak = generateKeyPairSync("rsa", { modulusLength: 1024 });
    const publicJwk = weak.publicKey.export({ format: "jwk" });
    expect(await keyProblem({ algorithm: "RS256", signingKey: weak.privateKey.export({ type: "pkcs8", format: "pem" }).toString() })).toBe("JWT_SIGNING_KEY: RSA keys must have at least 2048 bits");
    expect(await keyProblem({ algorithm: "HS256", signingKey: SIGNING_SECRET, verifyKeys: weak.publicKey.export({ type: "spki", format: "pem" }).toString() })).toBe("JWT_VERIFY_KEYS: RSA keys must have at least 2048 bits");
    expect(await keyProblem({ algorithm: "HS256", signingKey: SIGNING_SECRET, verifyKeys: JSON.stringify([publicJwk]) })).toBe("JWT_VERIFY_KEYS: RSA keys must have at least 2048 bits");
  });

  it.each([
    ["a private key of another type", () => pairs.EdDSA.privatePem, "JWT_SIGNING_KEY: not a ES256 private key (PKCS#8 PEM or private JWK expected)"],
    ["a public JWK", () => JSON.stringify(pairs.ES256.publicKey.export({ format: "jwk" })), "JWT_SIGNING_KEY: not a ES256 private key (PKCS#8 PEM or private JWK expected)"],
  ])("refuses as the ES256 signing key %s", async (_name, signingKey, message) => {
    expect(await keyProblem({ algorithm: "ES256", signingKey: signingKey() })).toBe(message);
  });

  it.each([
    ["JSON that does not parse", "{not json", "is not valid JSON"],
    ["an object without keys", "{}", "JSON must be a JWKS ({\"keys\": [...]}) or an array of JWKs"],
    ["keys that are not a list", "{\"keys\": 3}", "JSON must be a JWKS ({\"keys\": [...]}) or an array of JWKs"],
    ["a JWK that does not import", JSON.stringify([{ kty: "EC", crv: "P-256", x: "AA", y: "AA" }]), "holds a JWK that cannot be imported"],
    ["a P-384 key", JSON.stringify([{ kty: "EC", crv: "P-384", x: "AA", y: "AA" }]), "holds a key that is not ES256 (P-256), EdDSA (Ed25519) or RS256"],
    ["an X25519 key", JSON.stringify([{ kty: "OKP", crv: "X25519", x: "AA" }]), "holds a key that is not ES256 (P-256), EdDSA (Ed25519) or RS256"],
    ["a symmetric JWK", JSON.stringify([{ kty: "oct" }]), "holds a key that is not ES256 (P-256), EdDSA (Ed25519) or RS256"],
    ["a PEM that is not SPKI", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", "PEM keys must be SPKI public keys (BEGIN PUBLIC KEY)"],
    ["an SPKI PEM of no accepted algorithm", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", "holds a PEM key that is not ES256, EdDSA or RS256"],
  ])("refuses JWT_VERIFY_KEYS with %s", async (_name, verifyKeys, problem) => {
    expect(await keyProblem({ algorithm: "HS256", signingKey: SIGNING_SECRET, verifyKeys })).toBe(`JWT_VERIFY_KEYS: ${problem}`);
  });

  it("refuses a JWKS key whose alg does not match its type", async () => {
    const es = pairs.ES256.publicKey.export({ format: "jwk" });
    const ed = pairs.EdDSA.publicKey.export({ format: "jwk" });
    for (const jwk of [{ ...es, alg: "ES384" }, { ...es, alg: "EdDSA" }, { ...ed, alg: "ES256" }, { ...ed, alg: "Ed448" }]) {
      expect(await keyProblem({ algorithm: "HS256", signingKey: SIGNING_SECRET, verifyKeys: JSON.stringify([jwk]) })).toBe("JWT_VERIFY_KEYS: holds a key that is not ES256 (P-256), EdDSA (Ed25519) or RS256");
    }
    for (const jwk of [{ ...es, alg: "ES256" }, { ...ed, alg: "EdDSA" }, { ...ed, alg: "Ed25519" }]) {
      expect((await createKeyRing({ algorithm: "HS256", signingKey: SIGNING_SECRET, verifyKeys: JSON.stringify([jwk]) })).jwks).toHaveLength(1);
    }
  });

  it("refuses a private JWK among JWT_VERIFY_KEYS by name", async () => {
    const secretJwk = { kty: "oct", k: "c2VjcmV0" };
    expect(await keyProblem({ algorithm: "HS256", signingKey: SIGNING_SECRET, verifyKeys: JSON.stringify([secretJwk]) })).toBe("JWT_VERIFY_KEYS: must hold public keys only");
  });
});
