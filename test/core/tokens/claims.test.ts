/**
 * The claims the service sets itself, which a deployment's extraClaims cannot
 * replace, and the user a token speaks for.
 */
import { describe, expect, it } from "vitest";
import { RESERVED_CLAIMS, userOfClaims, type TokenClaims } from "../../../src/core/tokens/claims.js";
import { createKeyRing } from "../../../src/core/tokens/keys.js";
import { signToken } from "../../../src/core/tokens/sign.js";
import { split } from "../../support/forge.js";
import { SIGNING_SECRET } from "../support/core-deps.js";

const NOW = Date.UTC(2026, 0, 1, 12);
const user = { id: "user-1", phone: "+989121234567", first_name: "Sara", last_name: "Ahmadi", is_staff: true };

describe("RESERVED_CLAIMS", () => {
  it("names every claim the service sets, and nbf", () => {
    expect([...RESERVED_CLAIMS].sort()).toEqual(
      ["aud", "exp", "first_name", "iat", "is_staff", "iss", "jti", "last_name", "nbf", "phone", "sid", "sub", "token_type", "user_id"],
    );
  });

  it("cannot be replaced by extraClaims, which add only their own", async () => {
    const keys = await createKeyRing({ algorithm: "HS256", signingKey: SIGNING_SECRET });
    const hostile = Object.fromEntries([...RESERVED_CLAIMS].map((name) => [name, `forged-${name}`]));
    const token = signToken(
      keys,
      { type: "access", jti: "jti-1", sid: "sid-1", user, issuedAtMs: NOW, expiresAtMs: NOW + 60_000 },
      { issuer: "https://id.example", extraClaims: (of) => ({ ...hostile, tenant: "acme", staff_of: of.is_staff }) },
    );
    expect(split(token).payload).toEqual({
      tenant: "acme",
      staff_of: true,
      token_type: "access",
      exp: NOW / 1000 + 60,
      iat: NOW / 1000,
      jti: "jti-1",
      sub: "user-1",
      user_id: "user-1",
      sid: "sid-1",
      phone: "+989121234567",
      first_name: "Sara",
      last_name: "Ahmadi",
      is_staff: true,
      iss: "https://id.example",
    });
  });
});

describe("userOfClaims", () => {
  it("is the user the claims speak for, and nothing else", () => {
    const claims: TokenClaims = {
      token_type: "access", exp: 2, iat: 1, jti: "j", sub: "user-1", user_id: "user-1", sid: "s",
      phone: "+989121234567", first_name: "Sara", last_name: "Ahmadi", is_staff: true, tenant: "acme",
    };
    expect(userOfClaims(claims)).toEqual(user);
    expect(userOfClaims({ ...claims, is_staff: false, first_name: "", last_name: "" })).toEqual({ ...user, is_staff: false, first_name: "", last_name: "" });
  });

  it("takes the id from sub", () => {
    const claims = { token_type: "access", exp: 2, iat: 1, jti: "j", sub: "from-sub", user_id: "from-user-id", sid: "s", phone: "p", first_name: "a", last_name: "b", is_staff: false } as const;
    expect(userOfClaims(claims).id).toBe("from-sub");
  });
});
