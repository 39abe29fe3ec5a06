/**
 * DESIGN "Moving over from the Django system": a SimpleJWT refresh token is
 * exchanged at Refresh exactly once for a new session of its imported active user;
 * every other legacy token is refused with DESIGN's reason, and nothing but Refresh
 * ever accepts one.
 */
import { decodeJwt } from "jose";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../../src/config.js";
import { refreshSession } from "../../../src/core/sessions/refresh.js";
import { verifyAccess } from "../../../src/core/tokens/authenticate.js";
import { introspect } from "../../../src/core/tokens/introspect.js";
import type { SignedIn } from "../../../src/core/sessions/start.js";
import { LEGACY_SIGNING_KEY, signSimpleJwt, simpleJwt, type SimpleJwtClaims } from "../../support/simplejwt.js";
import { coreLab, type CoreLab, type CoreLabOptions } from "../support/core-deps.js";
import { recordedMetrics } from "../support/recorded-metrics.js";
import { callerOf, claimsOf, refusal, signUp, TEST_CLIENT } from "../support/signed-in.js";

const HOUR_S = 3600;
const DAY_MS = 86_400_000;

/** A lab that exchanges tokens signed with LEGACY_SIGNING_KEY. */
function legacyLab(env: Record<string, string> = {}, options: CoreLabOptions = {}): Promise<CoreLab> {
  return coreLab({ ...options, env: { LEGACY_SIMPLEJWT_SIGNING_KEY: LEGACY_SIGNING_KEY, ...env } });
}

/** A user imported from Django with id `legacyId` (as import-django leaves them). */
async function imported(lab: CoreLab, legacyId: number): Promise<SignedIn> {
  const signedIn = await signUp(lab);
  lab.stores.admin.setLegacyId(signedIn.user.id, String(legacyId));
  return signedIn;
}

/** A SimpleJWT refresh token issued a minute before the lab's now, for a day. */
function djangoToken(lab: CoreLab, claims: Partial<SimpleJwtClaims> & Pick<SimpleJwtClaims, "userId">, key?: string): Promise<string> {
  const now = Math.floor(lab.clock.now() / 1000);
  return simpleJwt({ iat: now - 60, exp: now + 24 * HOUR_S, ...claims }, key);
}

const exchangeEvents = (lab: CoreLab) => lab.stores.admin.auditEvents().filter((e) => e.type === "legacy.token_exchanged");

describe("exchanging a Django refresh token at Refresh", () => {
  it("answers the usual pair of a new session of the imported user, records the client, spends the jti and audits it", async () => {
    const metrics = recordedMetrics();
    const lab = await legacyLab({}, { metrics });
    const { user, tokens: own } = await imported(lab, 42);
    const token = await djangoToken(lab, { userId: 42, jti: "a1b2c3" });
    metrics.take();

    const pair = await refreshSession(lab.deps, token, TEST_CLIENT);

    const access = claimsOf(pair.access);
    const refresh = claimsOf(pair.refresh);
    expect(access).toMatchObject({ token_type: "access", sub: user.id, phone: user.phone });
    expect(refresh).toMatchObject({ token_type: "refresh", sub: user.id, sid: access.sid });
    expect(access.sid).not.toBe(claimsOf(own.refresh).sid);
    expect(pair.refreshExpiresAt).toEqual(new Date(lab.clock.now() + 7 * DAY_MS));
    await expect(callerOf(lab, pair.access)).resolves.toMatchObject({ sessionId: access.sid });
    expect(lab.stores.admin.sessionClient(access.sid)).toEqual({ ...TEST_CLIENT, lastUsedAt: new Date(lab.clock.now()) });
    expect(lab.stores.admin.legacySpent("a1b2c3")).toEqual({ reason: "exchanged", spentAt: new Date(lab.clock.now()), expiresAt: new Date((lab.clock.now() / 1000 + 24 * HOUR_S) * 1000) });
    expect(exchangeEvents(lab)).toEqual([
      expect.objectContaining({ userId: user.id, sessionId: access.sid, actor: `user:${user.id}`, ip: TEST_CLIENT.ip, userAgent: TEST_CLIENT.userAgent, details: { legacy_id: "42" } }),
    ]);
    expect(JSON.stringify(exchangeEvents(lab))).not.toContain("a1b2c3");
    expect(metrics.take()).toEqual([["tokensIssued", "access"], ["tokensIssued", "refresh"], ["refreshed", "rotated"]]);
  });

  it("accepts user_id as a string, as newer SimpleJWT versions write it", async () => {
    const lab = await legacyLab();
    const { user } = await imported(lab, 7);
    const pair = await refreshSession(lab.deps, await djangoToken(lab, { userId: "7" }));
    expect(claimsOf(pair.access).sub).toBe(user.id);
  });

  it("verifies under a short signing key too (Django only warns about one)", async () => {
    const lab = await coreLab({ env: { LEGACY_SIMPLEJWT_SIGNING_KEY: "short" } });
    await imported(lab, 3);
    await expect(refreshSession(lab.deps, await djangoToken(lab, { userId: 3 }, "short"))).resolves.toBeDefined();
  });

  it("moves last_login as a login does, and not with UPDATE_LAST_LOGIN=false", async () => {
    const on = await legacyLab();
    await imported(on, 1);
    const moved = await refreshSession(on.deps, await djangoToken(on, { userId: 1 }));
    expect((await on.stores.users.findById(claimsOf(moved.access).sub))?.lastLogin).toEqual(new Date(on.clock.now()));

    const off = await legacyLab({ UPDATE_LAST_LOGIN: "false" });
    const { user } = await imported(off, 1);
    off.clock.advance(60_000);
    await refreshSession(off.deps, await djangoToken(off, { userId: 1 }));
    expect((await off.stores.users.findById(user.id))?.lastLogin).toEqual(user.lastLogin);
  });

  it("gives a session that then refreshes as any other", async () => {
    const lab = await legacyLab();
    await imported(lab, 5);
    const first = await refreshSession(lab.deps, await djangoToken(lab, { userId: 5 }));
    lab.clock.advance(60_000);
    const next = await refreshSession(lab.deps, first.refresh);
    expect(claimsOf(next.refresh).sid).toBe(claimsOf(first.refresh).sid);
  });

  it("accepts a token once: a second presentation is token_blacklisted and starts nothing", async () => {
    const metrics = recordedMetrics();
    const lab = await legacyLab({}, { metrics });
    await imported(lab, 42);
    const token = await djangoToken(lab, { userId: 42 });
    await refreshSession(lab.deps, token);
    const sessions = lab.stores.admin.counts().sessions;
    metrics.take();

    expect(await refusal(refreshSession(lab.deps, token))).toBe("token_blacklisted");
    expect(lab.stores.admin.counts().sessions).toBe(sessions);
    expect(exchangeEvents(lab)).toHaveLength(1);
    expect(metrics.take()).toEqual([["refreshed", "refused"]]);
  });

  it("of fifty parallel presentations of one token, exactly one gets a session", async () => {
    const lab = await legacyLab();
    await imported(lab, 42);
    const token = await djangoToken(lab, { userId: 42 });
    const sessions = lab.stores.admin.counts().sessions;
    const outcomes = await Promise.allSettled(Array.from({ length: 50 }, () => refreshSession(lab.deps, token)));
    expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
    expect(outcomes.filter((o) => o.status === "rejected").map((o) => (o as PromiseRejectedResult).reason.reason)).toEqual(Array(49).fill("token_blacklisted"));
    expect(lab.stores.admin.counts().sessions).toBe(sessions + 1);
  });

  it("refuses a token blacklisted in the Django system: token_blacklisted", async () => {
    const lab = await legacyLab();
    await imported(lab, 42);
    lab.stores.admin.blacklistLegacy("revoked-there", null);
    expect(await refusal(refreshSession(lab.deps, await djangoToken(lab, { userId: 42, jti: "revoked-there" })))).toBe("token_blacklisted");
    expect(exchangeEvents(lab)).toEqual([]);
  });
});

describe("the refusals of a legacy token, each with DESIGN's reason and nothing created", () => {
  async function refusedWithNothingMade(lab: CoreLab, token: string): Promise<string> {
    const before = { rows: lab.stores.admin.counts(), events: lab.stores.admin.auditEvents().length };
    const reason = await refusal(refreshSession(lab.deps, token));
    expect({ rows: lab.stores.admin.counts(), events: lab.stores.admin.auditEvents().length }).toEqual(before);
    return reason;
  }

  it("a bad signature (another key): token_not_valid", async () => {
    const lab = await legacyLab();
    await imported(lab, 42);
    expect(await refusedWithNothingMade(lab, await djangoToken(lab, { userId: 42 }, `${LEGACY_SIGNING_KEY}x`))).toBe("token_not_valid");
  });

  it("expired: token_expired, and a second before exp it is exchanged", async () => {
    const lab = await legacyLab();
    await imported(lab, 42);
    const now = lab.clock.now() / 1000;
    expect(await refusedWithNothingMade(lab, await djangoToken(lab, { userId: 42, iat: now - 2 * HOUR_S, exp: now }))).toBe("token_expired");
    await expect(refreshSession(lab.deps, await djangoToken(lab, { userId: 42, iat: now - 2 * HOUR_S, exp: now + 1 }))).resolves.toBeDefined();
  });

  it("a legacy access token: token_wrong_type; another token_type: token_not_valid", async () => {
    const lab = await legacyLab();
    await imported(lab, 42);
    expect(await refusedWithNothingMade(lab, await djangoToken(lab, { userId: 42, tokenType: "access" }))).toBe("token_wrong_type");
    const sliding = await simpleJwtWith(lab, { token_type: "sliding" });
    expect(await refusedWithNothingMade(lab, sliding)).toBe("token_not_valid");
  });

  it("a user not imported: token_not_valid, and the jti stays unspent for when they are", async () => {
    const lab = await legacyLab();
    const token = await djangoToken(lab, { userId: 99, jti: "later" });
    expect(await refusedWithNothingMade(lab, token)).toBe("token_not_valid");
    expect(lab.stores.admin.legacySpent("later")).toBeUndefined();
    await imported(lab, 99);
    await expect(refreshSession(lab.deps, token)).resolves.toBeDefined();
  });

  it("an imported but inactive user: account_disabled, nothing spent", async () => {
    const lab = await legacyLab();
    const { user } = await imported(lab, 42);
    lab.stores.admin.setActive(user.id, false);
    expect(await refusedWithNothingMade(lab, await djangoToken(lab, { userId: 42, jti: "inactive" }))).toBe("account_disabled");
    expect(lab.stores.admin.legacySpent("inactive")).toBeUndefined();
  });

  it("a user_id or jti that names nothing: token_not_valid", async () => {
    const lab = await legacyLab();
    await imported(lab, 42);
    for (const claims of [{ user_id: "42a" }, { user_id: 0 }, { user_id: 4.2 }, { user_id: "9223372036854775808" }, { user_id: null }, { jti: "" }, { jti: 42 }]) {
      expect(await refusedWithNothingMade(lab, await simpleJwtWith(lab, claims))).toBe("token_not_valid");
    }
  });

  it("at and after LEGACY_SIMPLEJWT_UNTIL: token_not_valid; a millisecond before, exchanged", async () => {
    const lab = await legacyLab({ LEGACY_SIMPLEJWT_UNTIL: "2026-01-01T12:00:00.001Z" });
    await imported(lab, 42);
    await expect(refreshSession(lab.deps, await djangoToken(lab, { userId: 42 }))).resolves.toBeDefined();
    lab.clock.advance(1);
    expect(await refusedWithNothingMade(lab, await djangoToken(lab, { userId: 42 }))).toBe("token_not_valid");
  });

  it("without LEGACY_SIMPLEJWT_SIGNING_KEY: token_not_valid", async () => {
    const lab = await coreLab();
    await imported(lab, 42);
    expect(await refusedWithNothingMade(lab, await djangoToken(lab, { userId: 42 }))).toBe("token_not_valid");
  });
});

describe("our own tokens with the legacy key configured", () => {
  it("keep their reasons at Refresh: expired, wrong type, not valid", async () => {
    const lab = await legacyLab({ REFRESH_TOKEN_LIFETIME: "2h" });
    const { tokens } = await signUp(lab);
    expect(await refusal(refreshSession(lab.deps, tokens.access))).toBe("token_wrong_type");
    expect(await refusal(refreshSession(lab.deps, "not.a.token"))).toBe("token_not_valid");
    lab.clock.advance(2 * 3_600_000);
    expect(await refusal(refreshSession(lab.deps, tokens.refresh))).toBe("token_expired");
  });
});

describe("nothing but Refresh accepts a legacy token", () => {
  it("Verify, a Bearer and Introspect refuse a legacy access or refresh token as token_not_valid, spending nothing", async () => {
    const lab = await legacyLab();
    await imported(lab, 42);
    for (const tokenType of ["access", "refresh"] as const) {
      const token = await djangoToken(lab, { userId: 42, tokenType, jti: `j-${tokenType}` });
      expect(await verifyAccess(lab.deps, token)).toEqual({ valid: false, reason: "token_not_valid" });
      expect(await refusal(callerOf(lab, token))).toBe("token_not_valid");
      expect(await introspect(lab.deps, { token, hint: "refresh_token", serviceKey: undefined })).toEqual({ active: false });
      expect(lab.stores.admin.legacySpent(`j-${tokenType}`)).toBeUndefined();
    }
    expect(exchangeEvents(lab)).toEqual([]);
  });
});

describe("LEGACY_SIMPLEJWT_SIGNING_KEY and LEGACY_SIMPLEJWT_UNTIL", () => {
  const base = { LOG_LEVEL: "silent" };

  it("take any non-empty key as Django does (short ones too; surrounding whitespace dropped) and an instant with its offset", () => {
    expect(loadConfig({ ...base }).legacySimpleJwt).toBeUndefined();
    expect(loadConfig({ ...base, LEGACY_SIMPLEJWT_SIGNING_KEY: "   " }).legacySimpleJwt).toBeUndefined();
    expect(loadConfig({ ...base, LEGACY_SIMPLEJWT_SIGNING_KEY: " short\n" }).legacySimpleJwt).toEqual({ signingKey: "short", untilMs: undefined });
    const until = loadConfig({ ...base, LEGACY_SIMPLEJWT_SIGNING_KEY: "k", LEGACY_SIMPLEJWT_UNTIL: "2026-07-01T03:30:00+03:30" }).legacySimpleJwt?.untilMs;
    expect(until).toBe(Date.UTC(2026, 6, 1));
  });

  it("refuse an UNTIL that is not an instant, in one line naming the variable", () => {
    for (const text of ["2026-07-01", "2026-07-01T00:00:00", "tomorrow", "2026-13-01T00:00:00Z"]) {
      const load = () => loadConfig({ ...base, LEGACY_SIMPLEJWT_SIGNING_KEY: "k", LEGACY_SIMPLEJWT_UNTIL: text });
      expect(load).toThrow(ConfigError);
      expect(load).toThrow(/^LEGACY_SIMPLEJWT_UNTIL: "[^"\n]*" is not an ISO 8601 instant/);
    }
  });
});

/** A SimpleJWT-shaped refresh token of user 42 with some claims replaced. */
async function simpleJwtWith(lab: CoreLab, replaced: Record<string, unknown>): Promise<string> {
  return signSimpleJwt({ ...decodeJwt(await djangoToken(lab, { userId: 42 })), ...replaced });
}
