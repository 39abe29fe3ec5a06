/**
 * signToken: the header every token of a ring carries, the claims from the spec
 * (whole seconds), iss/aud when configured, and a signature each algorithm's
 * verifier takes (ES256 as raw r||s).
 */
import { createHmac, createPublicKey, verify } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { createKeyRing, type KeyRing } from "../../../src/core/tokens/keys.js";
import { signToken, type TokenSpec } from "../../../src/core/tokens/sign.js";
import { split } from "../../support/forge.js";
import { SIGNING_SECRET } from "../support/core-deps.js";
import { keyPair, type Asymmetric, type KeyPair } from "../support/token-lab.js";

const NOW = Date.UTC(2026, 0, 1, 12);
const user = { id: "user-1", phone: "+989121234567", first_name: "Sara", last_name: "Ahmadi", is_staff: false };
const spec = (over: Partial<TokenSpec> = {}): TokenSpec => ({ type: "refresh", jti: "jti-1", sid: "sid-1", user, issuedAtMs: NOW + 999, expiresAtMs: NOW + 60_999, ...over });

let hs: KeyRing;
const pairs = {} as Record<Asymmetric, KeyPair>;
const rings = {} as Record<Asymmetric, KeyRing>;
beforeAll(async () => {
  hs = await createKeyRing({ algorithm: "HS256", signingKey: SIGNING_SECRET });
  for (const alg of ["ES256", "EdDSA", "RS256"] as const) {
    pairs[alg] = keyPair(alg);
    rings[alg] = await createKeyRing({ algorithm: alg, signingKey: pairs[alg].privatePem });
  }
});

describe("signToken", () => {
  it("writes alg, kid and typ JWT in the header, the same for every token", () => {
    const first = signToken(hs, spec(), {});
    const second = signToken(hs, spec({ jti: "jti-2" }), {});
    expect(split(first).header).toEqual({ alg: "HS256", kid: hs.signing.kid, typ: "JWT" });
    expect(split(first).segments[0]).toBe(split(second).segments[0]);
  });

  it("writes the spec's claims, times floored to whole seconds", () => {
    expect(split(signToken(hs, spec(), {})).payload).toEqual({
      token_type: "refresh", exp: NOW / 1000 + 60, iat: NOW / 1000, jti: "jti-1", sub: "user-1", user_id: "user-1", sid: "sid-1",
      phone: "+989121234567", first_name: "Sara", last_name: "Ahmadi", is_staff: false,
    });
  });

  it("writes iss and aud when configured, and only then", () => {
    expect(split(signToken(hs, spec(), { issuer: "https://id.example", audience: "api" })).payload).toMatchObject({ iss: "https://id.example", aud: "api" });
    const payload = split(signToken(hs, spec(), { issuer: undefined, audience: undefined })).payload;
    expect("iss" in payload || "aud" in payload).toBe(false);
  });

  it("signs HS256 with the secret", () => {
    const token = signToken(hs, spec(), {});
    const input = token.slice(0, token.lastIndexOf("."));
    expect(split(token).signature).toEqual(createHmac("sha256", SIGNING_SECRET).update(input).digest());
  });

  it.each(["ES256", "EdDSA", "RS256"] as const)("signs %s so that its public key verifies it", (alg) => {
    const token = signToken(rings[alg], spec(), {});
    const { header, signature } = split(token);
    expect(header).toEqual({ alg, kid: rings[alg].signing.kid, typ: "JWT" });
    const input = Buffer.from(token.slice(0, token.lastIndexOf(".")));
    const publicKey = createPublicKey(pairs[alg].publicPem);
    if (alg === "ES256") {
      expect(signature).toHaveLength(64);
      expect(verify("sha256", input, { key: publicKey, dsaEncoding: "ieee-p1363" }, signature)).toBe(true);
    } else {
      expect(verify(alg === "EdDSA" ? null : "sha256", input, publicKey, signature)).toBe(true);
    }
  });
});
