/**
 * Keys and algorithms through the running service: each JWT_ALGORITHM end to end,
 * GetJwks, key rotation across a restart, forged headers, issuer and audience, and
 * the extraClaims hook. Keys do not depend on the stores, so one store mode serves
 * (real PostgreSQL + Redis when they answer).
 */
import { createHmac, generateKeyPairSync } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { exportJWK, exportPKCS8, exportSPKI, generateKeyPair, importPKCS8, SignJWT } from "jose";
import { afterAll, describe, expect, it } from "vitest";
import type { JwtAlgorithm } from "../src/config.js";
import { KeyError } from "../src/core/tokens/keys.js";
import { failure, registerUser, startService, type Service } from "./support/grpc-harness.js";
import { realStoresAvailable } from "./support/services.js";
import { startSmsInbox } from "./support/sms-inbox.js";
import { jwtHeader, jwtPayload, lab } from "./support/tools.js";

type Asymmetric = Exclude<JwtAlgorithm, "HS256">;
const HS_SECRET = "an-hs256-secret-of-at-least-32-bytes!";

async function privatePem(alg: Asymmetric): Promise<{ privatePem: string; publicPem: string }> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privatePem: await exportPKCS8(privateKey), publicPem: await exportSPKI(publicKey) };
}

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

describe("keys and algorithms over gRPC", () => {
  const stores = lab(realStoresAvailable() ? "real" : "embedded");
  afterAll(() => stores.close());

  it.each([
    ["HS256", undefined],
    ["ES256", { kty: "EC", crv: "P-256" }],
    ["EdDSA", { kty: "OKP", crv: "Ed25519" }],
    ["RS256", { kty: "RSA", crv: "" }],
  ] as const)("%s: issues tokens that Verify accepts, and GetJwks publishes the right key", async (alg, shape) => {
    const signingKey = alg === "HS256" ? HS_SECRET : (await privatePem(alg)).privatePem;
    const service = await stores.service({ JWT_ALGORITHM: alg, JWT_SIGNING_KEY: signingKey });
    const { user, tokens } = await registerUser(service);
    expect(jwtHeader(tokens.access)).toMatchObject({ alg, typ: "JWT" });
    expect(await service.token.verify({ token: tokens.access })).toMatchObject({ valid: true, user: { id: user.id } });
    const next = (await service.token.refresh({ refresh: tokens.refresh })).tokens!;
    expect(await service.token.verify({ token: next.access })).toMatchObject({ valid: true });

    const { keys } = await service.token.getJwks({});
    if (shape === undefined) {
      expect(keys).toEqual([]);
      return;
    }
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ ...shape, alg, use: "sig", kid: jwtHeader(tokens.access).kid });
    if (alg === "RS256") expect(keys[0]).toMatchObject({ e: "AQAB", x: "", y: "" });
    else expect(keys[0]!.x).not.toBe("");
  });

  it("signs with a private JWK given as JWT_SIGNING_KEY", async () => {
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    const service = await stores.service({ JWT_ALGORITHM: "ES256", JWT_SIGNING_KEY: JSON.stringify(await exportJWK(privateKey)) });
    const { tokens } = await registerUser(service);
    expect(await service.token.verify({ token: tokens.access })).toMatchObject({ valid: true });
  });

  it("keeps the old key's tokens valid across a key rotation while JWT_VERIFY_KEYS lists it, and refuses them once it does not", async () => {
    const old = await privatePem("ES256");
    const next = await privatePem("ES256");
    let service = await stores.service({ JWT_SIGNING_KEY: old.privatePem });
    const { tokens } = await registerUser(service);
    const { tokens: other } = await registerUser(service);
    const oldKid = jwtHeader(tokens.access).kid;

    for (const verifyKeys of [old.publicPem, JSON.stringify({ keys: (await service.token.getJwks({})).keys.map((k) => ({ kty: k.kty, crv: k.crv, x: k.x, y: k.y, kid: k.kid, alg: k.alg })) })]) {
      service = await stores.service({ JWT_SIGNING_KEY: next.privatePem, JWT_VERIFY_KEYS: verifyKeys });
      expect(await service.token.verify({ token: tokens.access })).toMatchObject({ valid: true });
      const { keys } = await service.token.getJwks({});
      expect(keys.map((k) => k.kid)).toEqual([expect.not.stringMatching(oldKid as string), oldKid]);
      const { tokens: fresh } = await registerUser(service);
      expect(jwtHeader(fresh.access).kid).toBe(keys[0]!.kid);
    }
    // The old refresh token still refreshes while its key is listed.
    const refreshed = (await service.token.refresh({ refresh: tokens.refresh })).tokens!;
    expect(jwtHeader(refreshed.access).kid).not.toBe(oldKid);

    service = await stores.service({ JWT_SIGNING_KEY: next.privatePem });
    expect(await service.token.verify({ token: tokens.access })).toMatchObject({ valid: false, reason: "token_not_valid" });
    expect(await failure(service.token.refresh({ refresh: other.refresh }))).toMatchObject({ code: Code.Unauthenticated, reason: "token_not_valid" });
    // What the new key signed lives on.
    expect(await service.token.verify({ token: refreshed.access })).toMatchObject({ valid: true });
    expect((await service.token.getJwks({})).keys).toHaveLength(1);
  });

  describe("forged tokens", () => {
    let service: Service;
    let claims: Record<string, unknown>;
    let kid: string;
    let keys: { privateKey: CryptoKey; publicPem: string };

    async function setUp(): Promise<void> {
      const pem = await privatePem("ES256");
      keys = { privateKey: await importPKCS8(pem.privatePem, "ES256"), publicPem: pem.publicPem };
      service = await stores.service({ JWT_SIGNING_KEY: pem.privatePem });
      const { tokens } = await registerUser(service);
      claims = jwtPayload(tokens.access);
      kid = jwtHeader(tokens.access).kid as string;
      // The genuine token, re-signed by the genuine key with a clean header, is fine.
      expect(await service.token.verify({ token: await sign({}) })).toMatchObject({ valid: true });
    }

    const sign = (header: Record<string, unknown>, payload = claims) =>
      new SignJWT(payload).setProtectedHeader({ alg: "ES256", kid, typ: "JWT", ...header } as never).sign(keys.privateKey);

    async function expectRefused(token: string): Promise<void> {
      expect(await service.token.verify({ token })).toMatchObject({ valid: false, reason: "token_not_valid" });
      expect(await service.token.introspect({ token })).toMatchObject({ active: false });
    }

    it("refuses an unknown kid, alg none, and jku / jwk / x5u / x5c headers though signed by the service's own key", async () => {
      await setUp();
      await expectRefused(await sign({ kid: "no-such-key" }));
      await expectRefused(`${b64({ alg: "none", kid })}.${b64(claims)}.`);
      await expectRefused(await sign({ jku: "https://attacker.example/jwks.json" }));
      await expectRefused(await sign({ x5u: "https://attacker.example/cert.pem" }));
      await expectRefused(await sign({ jwk: { kty: "EC", crv: "P-256", x: "AAAA", y: "AAAA" } }));
      await expectRefused(await sign({ x5c: ["MIIB"] }));
    });

    it("refuses an HS256 token keyed with the service's public key (algorithm confusion)", async () => {
      await setUp();
      const jwk = (await service.token.getJwks({})).keys[0]!;
      for (const secret of [keys.publicPem, JSON.stringify(jwk)]) {
        const input = `${b64({ alg: "HS256", kid, typ: "JWT" })}.${b64(claims)}`;
        await expectRefused(`${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`);
      }
    });
  });

  it("puts JWT_ISSUER and JWT_AUDIENCE in tokens and refuses tokens without them or with other values", async () => {
    const pem = await privatePem("ES256");
    const service = await stores.service({ JWT_SIGNING_KEY: pem.privatePem, JWT_ISSUER: "https://id.example", JWT_AUDIENCE: "shop" });
    const { tokens } = await registerUser(service);
    expect(jwtPayload(tokens.access)).toMatchObject({ iss: "https://id.example", aud: "shop" });
    expect(jwtPayload(tokens.refresh)).toMatchObject({ iss: "https://id.example", aud: "shop" });
    expect(await service.token.verify({ token: tokens.access })).toMatchObject({ valid: true });
    expect(await service.token.introspect({ token: tokens.access })).toMatchObject({ active: true, iss: "https://id.example", aud: "shop" });

    const privateKey = await importPKCS8(pem.privatePem, "ES256");
    const { iss: _iss, aud: _aud, ...bare } = jwtPayload(tokens.access);
    const header = jwtHeader(tokens.access);
    for (const payload of [bare, { ...bare, iss: "https://evil.example", aud: "shop" }, { ...bare, iss: "https://id.example", aud: "other" }]) {
      const forged = await new SignJWT(payload).setProtectedHeader(header as never).sign(privateKey);
      expect(await service.token.verify({ token: forged })).toMatchObject({ valid: false, reason: "token_not_valid" });
    }
  });

  it("adds the claims of an extraClaims hook, which cannot override reserved ones", async () => {
    const service = await stores.service({}, {
      extraClaims: (user) => ({ tenant: "acme", phone_digits: user.phone.length, sub: "admin", token_type: "refresh", is_staff: true, jti: "fixed" }),
    });
    const { user, tokens } = await registerUser(service);
    for (const token of [tokens.access, tokens.refresh]) {
      expect(jwtPayload(token)).toMatchObject({ tenant: "acme", phone_digits: 13, sub: user.id, is_staff: false });
      expect(jwtPayload(token).jti).not.toBe("fixed");
    }
    expect(jwtPayload(tokens.access).token_type).toBe("access");
    expect(await service.token.verify({ token: tokens.access })).toMatchObject({ valid: true, user: { id: user.id, isStaff: false } });
  });

  it("refuses to start with an RS256 key under 2048 bits (KeyError naming JWT_SIGNING_KEY)", async () => {
    await stores.service();
    await stores.stopService();
    const small = generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const stores0 = stores.stores!;
    const inbox = await startSmsInbox();
    const error = await startService(stores0, { env: { JWT_ALGORITHM: "RS256", JWT_SIGNING_KEY: small }, sms: inbox })
      .then(async (started) => void (await started.stop()), (e: unknown) => e)
      .finally(() => inbox.close());
    expect(error).toBeInstanceOf(KeyError);
    expect((error as KeyError).variable).toBe("JWT_SIGNING_KEY");
  });
});
