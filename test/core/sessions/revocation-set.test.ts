import { describe, expect, it } from "vitest";
import { createRevocationSet } from "../../../src/core/sessions/revocation-set.js";

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const rules = { accessLifetimeMs: HOUR, leewayMs: 0 };
/** A token of `sid` issued at `issuedMs` (iat in whole seconds, as tokens carry it). */
const token = (sid: string, issuedMs: number, sub = "user-1") => ({ sub, sid, iat: Math.floor(issuedMs / 1000) });

describe("the revocation set of a local verifier", () => {
  it("refuses every token of a revoked session, and only of that session", () => {
    const set = createRevocationSet(rules);
    set.revokeSession("s1", T0, T0);
    expect(set.check(token("s1", T0 - 10_000), T0 + 1)).toBe("revoked");
    expect(set.check(token("s2", T0 - 10_000), T0 + 1)).toBe("not_revoked");
  });

  it("refuses a token issued well before a user's revoked_before, asks about the same second and later", () => {
    const set = createRevocationSet(rules);
    const r = T0 + 500;
    set.revokeUserBefore("user-1", r, r, r);
    expect(set.check(token("old", T0 - 1500), r)).toBe("revoked");
    // The second before R ends less than a second before it: a login that read its
    // clock then may have committed after the logout-all (its start moved past R).
    expect(set.check(token("edge", T0 - 1000), r)).toBe("ask");
    expect(set.check(token("same", T0), r)).toBe("ask");
    // After R is not proof: a refresh racing the logout-all signs such tokens too.
    expect(set.check(token("new", T0 + 5000), r)).toBe("ask");
    expect(set.check(token("other", T0 - 1500, "user-2"), r)).toBe("not_revoked");
  });

  it("widens the sure-before margin by JWT_LEEWAY", () => {
    const set = createRevocationSet({ accessLifetimeMs: HOUR, leewayMs: 5000 });
    set.revokeUserBefore("user-1", T0, T0, T0);
    expect(set.check(token("a", T0 - 5500), T0)).toBe("ask");
    expect(set.check(token("a", T0 - 6500), T0)).toBe("revoked");
  });

  it("answers a session the service said was alive after R from then on, until R moves", () => {
    const set = createRevocationSet(rules);
    set.revokeUserBefore("user-1", T0, T0, T0);
    const t = token("fresh", T0 + 2000);
    const asked = set.askedAbout("user-1");
    set.settle(t, asked, true, T0 + 2000);
    expect(set.check(t, T0 + 3000)).toBe("not_revoked");
    set.revokeUserBefore("user-1", T0 + 10_000, T0 + 10_000, T0 + 10_000);
    expect(set.check(token("fresh", T0 + 20_000), T0 + 20_000)).toBe("ask");
    expect(set.check(t, T0 + 20_000)).toBe("revoked");
  });

  it("keeps no answer to a question asked before R moved", () => {
    const set = createRevocationSet(rules);
    set.revokeUserBefore("user-1", T0, T0, T0);
    const t = token("s", T0 + 20_000);
    const asked = set.askedAbout("user-1");
    set.revokeUserBefore("user-1", T0 + 10_000, T0 + 10_000, T0 + 10_000);
    set.settle(t, asked, true, T0 + 10_001);
    expect(set.check(t, T0 + 20_000)).toBe("ask");
  });

  it("remembers a session the service said was revoked", () => {
    const set = createRevocationSet(rules);
    set.revokeUserBefore("user-1", T0, T0, T0);
    const t = token("dead", T0 + 2000);
    set.settle(t, set.askedAbout("user-1"), false, T0 + 2000);
    expect(set.check(token("dead", T0 + 3000, "user-1"), T0 + 3000)).toBe("revoked");
  });

  it("never lowers a user's revoked_before", () => {
    const set = createRevocationSet(rules);
    set.revokeUserBefore("user-1", T0 + 10_000, T0 + 10_000, T0 + 10_000);
    set.revokeUserBefore("user-1", T0, T0, T0 + 10_000);
    expect(set.check(token("s", T0 + 5000), T0 + 10_000)).toBe("revoked");
  });

  it("holds one entry per session and one per user, however many events name them", () => {
    const set = createRevocationSet(rules);
    for (let i = 0; i < 100; i++) {
      set.revokeSession("s1", T0 + i, T0 + i);
      set.revokeUserBefore("user-1", T0 + i, T0 + i, T0 + i);
    }
    expect(set.size).toBe(2);
  });

  it("drops each entry once no token it covers can still be accepted: lifetime plus leeway, in whole seconds", () => {
    const leewayMs = 2000;
    const set = createRevocationSet({ accessLifetimeMs: HOUR, leewayMs });
    set.revokeSession("s1", T0, T0);
    set.revokeUserBefore("user-1", T0, T0, T0);
    // A token issued at the revocation (a clock a leeway ahead) lives its lifetime,
    // is accepted a leeway past exp, and both are counted in whole seconds.
    const lastAcceptedMs = T0 + leewayMs + HOUR + leewayMs + 999;
    expect(set.check(token("s1", T0), lastAcceptedMs)).toBe("revoked");
    expect(set.check(token("x", T0 - 10_000), lastAcceptedMs)).toBe("revoked");
    expect(set.size).toBe(2);
    expect(set.check(token("s1", T0), lastAcceptedMs + 1)).toBe("not_revoked");
    expect(set.size).toBe(0);
  });

  it("stays bounded under a steady stream of revocations: only the last lifetime's are held", () => {
    const set = createRevocationSet(rules);
    // One revocation a second for three hours (events arrive in order).
    for (let s = 0; s < 3 * 3600; s++) {
      const at = T0 + s * 1000;
      set.revokeSession(`s${s}`, at, at);
      if (s % 10 === 0) set.revokeUserBefore(`u${s}`, at, at, at);
    }
    // An hour (plus the second of margin) of sessions, and a tenth as many users.
    expect(set.size).toBeLessThanOrEqual(3601 + 361);
    expect(set.size).toBeGreaterThanOrEqual(3600 + 360);
    expect(set.check(token("s0", T0 - 1), T0 + 3 * 3600 * 1000)).toBe("not_revoked");
  });
});
