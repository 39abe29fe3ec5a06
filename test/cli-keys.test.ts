/**
 * `identity keys generate` and `identity keys jwks` as operators run them (the real
 * bin, a process of its own): the key printed works as JWT_SIGNING_KEY of a running
 * service, and the JWKS printed is the one /api/jwks/ serves, verifying its tokens.
 */
import { createPrivateKey, createPublicKey } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLocalJWKSet, importPKCS8, jwtVerify, type JSONWebKeySet } from "jose";
import { describe, expect, it } from "vitest";
import { startBridgeHarness } from "./support/bridge-server.js";
import { identity, type Ran } from "./support/cli.js";

/** Exit 0, nothing on stderr; stdout as printed. */
function printed(ran: Ran): string {
  expect({ status: ran.status, stderr: ran.stderr }).toEqual({ status: 0, stderr: "" });
  return ran.stdout;
}

/** Exit `status` with one line on stderr (returned) and nothing on stdout. */
function refused(ran: Ran, status: 1 | 2): string {
  expect({ status: ran.status, stdout: ran.stdout }).toEqual({ status, stdout: "" });
  const lines = ran.stderr.trimEnd().split("\n");
  expect(lines).toHaveLength(1);
  return lines[0]!;
}

const PEM = /^-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+\n-----END PRIVATE KEY-----\n$/;

describe("identity keys generate", () => {
  it("prints a PKCS#8 PEM private key of the algorithm asked for, ES256 by default", async () => {
    const [plain, es256, eddsa, rs256] = await Promise.all([
      identity({}, "keys", "generate"),
      identity({}, "keys", "generate", "--alg", "ES256"),
      identity({}, "keys", "generate", "--alg", "EdDSA"),
      identity({}, "keys", "generate", "--alg", "RS256"),
    ]);
    for (const ran of [plain, es256, eddsa, rs256]) expect(printed(ran)).toMatch(PEM);
    expect(printed(plain)).not.toBe(printed(es256));
    const described = (ran: Ran) => createPrivateKey(ran.stdout).asymmetricKeyDetails;
    expect(createPrivateKey(plain.stdout).asymmetricKeyType).toBe("ec");
    expect(described(plain)).toMatchObject({ namedCurve: "prime256v1" });
    expect(createPrivateKey(eddsa.stdout).asymmetricKeyType).toBe("ed25519");
    expect(described(rs256)).toMatchObject({ modulusLength: 2048 });
    await expect(importPKCS8(eddsa.stdout, "EdDSA")).resolves.toBeDefined();
  });

  it("refuses another --alg with one line (exit 2), and explains itself with --help", async () => {
    expect(refused(await identity({}, "keys", "generate", "--alg", "HS256"), 2)).toBe('identity keys generate: --alg "HS256" is not one of ES256, EdDSA, RS256 (see identity keys generate --help)');
    expect(refused(await identity({}, "keys", "generate", "--alg"), 2)).toBe("identity keys generate: option --alg needs a value (see identity keys generate --help)");
    expect(refused(await identity({}, "keys", "rotate"), 2)).toBe('identity: unknown command "keys rotate" (see identity keys --help)');
    expect(printed(await identity({}, "keys", "generate", "--help"))).toContain("Usage: identity keys generate [--alg ES256|EdDSA|RS256]");
    expect(printed(await identity({}, "keys", "jwks", "-h"))).toContain("Usage: identity keys jwks");
    const group = printed(await identity({}, "keys", "--help"));
    expect(group).toContain("keys generate [--alg ALG]");
    expect(group).toContain("keys jwks");
  });
});

describe("identity keys jwks", () => {
  it("prints the JWKS /api/jwks/ serves for a generated key and a verify key, and it verifies the service's tokens", async () => {
    const signing = printed(await identity({}, "keys", "generate"));
    const previous = createPublicKey(printed(await identity({}, "keys", "generate", "--alg", "EdDSA"))).export({ type: "spki", format: "pem" }).toString();
    const env = { JWT_ALGORITHM: "ES256", JWT_SIGNING_KEY: signing, JWT_VERIFY_KEYS: previous };
    const bridge = await startBridgeHarness({ env });
    try {
      const jwks = JSON.parse(printed(await identity(env, "keys", "jwks"))) as JSONWebKeySet;
      const served = await bridge.request("GET", "/api/jwks/");
      expect(jwks).toEqual(served.body);
      expect(jwks.keys.map((k) => [k.kty, k.alg, k.use])).toEqual([["EC", "ES256", "sig"], ["OKP", "EdDSA", "sig"]]);
      expect(JSON.stringify(jwks)).not.toMatch(/"d"/);

      const { tokens } = await bridge.signUp();
      const { payload, protectedHeader } = await jwtVerify(tokens.access, createLocalJWKSet(jwks));
      expect(protectedHeader).toMatchObject({ alg: "ES256", kid: jwks.keys[0]!.kid });
      expect(payload.token_type).toBe("access");
    } finally {
      await bridge.close();
    }
  });

  it("prints the development key's JWKS under DATA_DIR; with neither key nor DATA_DIR key, or a bad key, one line (exit 1)", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "identity-keys-"));
    try {
      expect(refused(await identity({ DATA_DIR: dataDir }, "keys", "jwks"), 1)).toMatch(/^identity keys jwks: JWT_SIGNING_KEY: is not set and the service has made no development key under DATA_DIR/);
      const bridge = await startBridgeHarness({ env: { DATA_DIR: dataDir } });
      try {
        const jwks = JSON.parse(printed(await identity({ DATA_DIR: dataDir }, "keys", "jwks"))) as JSONWebKeySet;
        expect(jwks).toEqual((await bridge.request("GET", "/api/jwks/")).body);
        expect(jwks.keys).toHaveLength(1);
      } finally {
        await bridge.close();
      }
      expect(refused(await identity({ JWT_ALGORITHM: "ES256", JWT_SIGNING_KEY: "not a key" }, "keys", "jwks"), 1)).toBe(
        "identity keys jwks: JWT_SIGNING_KEY: not a ES256 private key (PKCS#8 PEM or private JWK expected)",
      );
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
