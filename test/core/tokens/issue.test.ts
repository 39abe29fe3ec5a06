/**
 * issueTokenPair: an access token that never outlives its session, the refresh
 * token as specified, and expiries reported as the whole seconds the tokens carry.
 */
import { describe, expect, it } from "vitest";
import type { User } from "../../../src/core/ports/users.js";
import { issueTokenPair } from "../../../src/core/tokens/issue.js";
import { split } from "../../support/forge.js";
import { coreLab } from "../support/core-deps.js";

const NOW = Date.UTC(2026, 0, 1, 12) + 700;
const HOUR = 3_600_000;
const user: User = {
  id: "user-1", phone: "+989121234567", firstName: "Sara", lastName: "Ahmadi", isStaff: true, isActive: true,
  dateJoined: new Date(NOW), lastLogin: null,
};
const refresh = { jti: "refresh-jti", issuedAtMs: NOW - 5_000, expiresAtMs: NOW + 7 * 24 * HOUR + 300 };

describe("issueTokenPair", () => {
  it("signs a fresh access token and the given refresh token of the session", async () => {
    const { deps } = await coreLab({ env: { JWT_ISSUER: "https://id.example", JWT_AUDIENCE: "api" }, extraClaims: () => ({ tenant: "acme" }) });
    const pair = issueTokenPair(deps, user, { id: "sid-1", expiresAtMs: NOW + 30 * 24 * HOUR }, refresh, NOW);
    const access = split(pair.access).payload;
    const common = { sub: "user-1", user_id: "user-1", sid: "sid-1", phone: "+989121234567", first_name: "Sara", last_name: "Ahmadi", is_staff: true, iss: "https://id.example", aud: "api", tenant: "acme" };
    expect(access).toEqual({ ...common, token_type: "access", iat: Math.floor(NOW / 1000), exp: Math.floor((NOW + HOUR) / 1000), jti: expect.any(String) });
    expect(access.jti).not.toBe("refresh-jti");
    expect(split(pair.refresh).payload).toEqual({ ...common, token_type: "refresh", iat: Math.floor((NOW - 5_000) / 1000), exp: Math.floor(refresh.expiresAtMs / 1000), jti: "refresh-jti" });
    expect(pair.accessExpiresAt).toEqual(new Date(Math.floor((NOW + HOUR) / 1000) * 1000));
    expect(pair.refreshExpiresAt).toEqual(new Date(Math.floor(refresh.expiresAtMs / 1000) * 1000));
  });

  it("gives each access token its own jti", async () => {
    const { deps } = await coreLab();
    const session = { id: "sid-1", expiresAtMs: NOW + 30 * 24 * HOUR };
    const one = split(issueTokenPair(deps, user, session, refresh, NOW).access).payload.jti;
    const two = split(issueTokenPair(deps, user, session, refresh, NOW).access).payload.jti;
    expect(one).not.toBe(two);
  });

  it("ends the access token with the session when the session ends first", async () => {
    const { deps } = await coreLab();
    const sessionEnd = NOW + 10 * 60_000 + 500;
    const pair = issueTokenPair(deps, user, { id: "sid-1", expiresAtMs: sessionEnd }, refresh, NOW);
    expect(split(pair.access).payload.exp).toBe(Math.floor(sessionEnd / 1000));
    expect(pair.accessExpiresAt).toEqual(new Date(Math.floor(sessionEnd / 1000) * 1000));
  });
});
