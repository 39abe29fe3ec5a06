/**
 * The key ring: rotation through JWT_VERIFY_KEYS (an old key verifies while it is
 * listed), the published JWKS (public parts only), and keys that are refused.
 */
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
