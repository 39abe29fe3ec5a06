import { describe, expect, it } from "vitest";
import { assertSessionLive } from "../../../src/core/sessions/liveness.js";
import { refreshSession } from "../../../src/core/sessions/refresh.js";
import { liveSessionValue, sessionCacheKey } from "../../../src/store/liveness/keys.js";
import { coreLab } from "../support/core-deps.js";
import { callerOf, capturedLogs, claimsOf, refusal, resigned, signIn, signUp } from "../support/signed-in.js";

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

describe("refreshSession: rotation", () => {
  it("rotates: a new refresh token of the same session, the old one blacklisted, a fresh access token", async () => {
    const lab = await coreLab();
    const { user, tokens } = await signUp(lab);
    const old = claimsOf(tokens.refresh);
    lab.clock.advance(30_000);
    const now = lab.clock.now();

    const next = await refreshSession(lab.deps, tokens.refresh);
    const refresh = claimsOf(next.refresh);
    const access = claimsOf(next.access);
    expect(refresh).toMatchObject({ token_type: "refresh", sid: old.sid, sub: user.id, user_id: user.id, phone: user.phone, iat: now / 1000, exp: (now + 7 * DAY_MS) / 1000 });
    expect(access).toMatchObject({ token_type: "access", sid: old.sid, sub: user.id, iat: now / 1000, exp: (now + HOUR_MS) / 1000 });
    expect(refresh.jti).not.toBe(old.jti);
    expect(access.jti).not.toBe(claimsOf(tokens.access).jti);
    expect(next.accessExpiresAt).toEqual(new Date(now + HOUR_MS));
    expect(next.refreshExpiresAt).toEqual(new Date(now + 7 * DAY_MS));
    expect(lab.stores.admin.liveRefreshJti(old.sid)).toBe(refresh.jti);
    expect(lab.stores.admin.blacklisted(old.sid)).toEqual([old.jti]);
    await expect(callerOf(lab, next.access)).resolves.toMatchObject({ sessionId: old.sid });
  });

  it("carries the user's current names, not the old token's", async () => {
    const lab = await coreLab();
    const { user, tokens } = await signUp(lab, { firstName: "Sara", lastName: "Ahmadi" });
    await lab.stores.users.updateNames(user.id, { firstName: "Zahra" }, new Date(lab.clock.now()), { type: "user.profile_updated", client: null });
    const next = await refreshSession(lab.deps, tokens.refresh);
    expect(claimsOf(next.access)).toMatchObject({ first_name: "Zahra", last_name: "Ahmadi" });
    expect(claimsOf(next.refresh)).toMatchObject({ first_name: "Zahra", last_name: "Ahmadi" });
  });

  it("refuses an access token, a garbage token and an expired refresh token", async () => {
    const lab = await coreLab({ env: { REFRESH_TOKEN_LIFETIME: "2h" } });
    const { tokens } = await signUp(lab);
    expect(await refusal(refreshSession(lab.deps, tokens.access))).toBe("token_wrong_type");
    expect(await refusal(refreshSession(lab.deps, "not.a.token"))).toBe("token_not_valid");
    lab.clock.advance(2 * HOUR_MS);
    expect(await refusal(refreshSession(lab.deps, tokens.refresh))).toBe("token_expired");
  });
});

describe("refreshSession: grace replay", () => {
  it("answers a replay within REFRESH_REUSE_INTERVAL with the same successor, and a fresh access token", async () => {
    const lab = await coreLab();
    const { tokens } = await signUp(lab);
    const sid = claimsOf(tokens.refresh).sid;
    const first = await refreshSession(lab.deps, tokens.refresh);
    lab.clock.advance(4_000);
    const now = lab.clock.now();

    const again = await refreshSession(lab.deps, tokens.refresh);
    // The very successor (HS256 signs the same claims to the same bytes).
    expect(again.refresh).toBe(first.refresh);
    expect(again.refreshExpiresAt).toEqual(first.refreshExpiresAt);
    expect(claimsOf(again.access)).toMatchObject({ sid, iat: now / 1000, exp: (now + HOUR_MS) / 1000 });
    expect(claimsOf(again.access).jti).not.toBe(claimsOf(first.access).jti);
    expect(again.accessExpiresAt).toEqual(new Date(now + HOUR_MS));
    expect(lab.stores.admin.liveRefreshJti(sid)).toBe(claimsOf(first.refresh).jti);
    expect(lab.stores.admin.blacklisted(sid)).toEqual([claimsOf(tokens.refresh).jti]);
    await expect(callerOf(lab, again.access)).resolves.toMatchObject({ sessionId: sid });
    // And the successor still rotates.
    await expect(refreshSession(lab.deps, first.refresh)).resolves.toBeDefined();
  });

  it("replays with the user's current names and the successor's own jti", async () => {
    const lab = await coreLab();
    const { user, tokens } = await signUp(lab, { firstName: "Sara", lastName: "Ahmadi" });
    const first = await refreshSession(lab.deps, tokens.refresh);
    await lab.stores.users.updateNames(user.id, { lastName: "Karimi" }, new Date(lab.clock.now()), { type: "user.profile_updated", client: null });
    const again = await refreshSession(lab.deps, tokens.refresh);
    expect(claimsOf(again.refresh)).toMatchObject({ jti: claimsOf(first.refresh).jti, iat: claimsOf(first.refresh).iat, exp: claimsOf(first.refresh).exp, last_name: "Karimi" });
    expect(claimsOf(again.access).last_name).toBe("Karimi");
  });

  it("still replays at exactly REFRESH_REUSE_INTERVAL after the rotation", async () => {
    const lab = await coreLab({ env: { REFRESH_REUSE_INTERVAL: "10s" } });
    const { tokens } = await signUp(lab);
    const first = await refreshSession(lab.deps, tokens.refresh);
    lab.clock.advance(10_000);
    expect((await refreshSession(lab.deps, tokens.refresh)).refresh).toBe(first.refresh);
  });

  it("with REFRESH_REUSE_INTERVAL=0s treats even an instant replay as theft", async () => {
    const lab = await coreLab({ env: { REFRESH_REUSE_INTERVAL: "0s" } });
    const { tokens } = await signUp(lab);
    const sid = claimsOf(tokens.refresh).sid;
    const first = await refreshSession(lab.deps, tokens.refresh);
    expect(await refusal(refreshSession(lab.deps, tokens.refresh))).toBe("token_blacklisted");
    expect(await refusal(refreshSession(lab.deps, first.refresh))).toBe("session_revoked");
    expect(await refusal(callerOf(lab, first.access))).toBe("session_revoked");
    expect((await lab.stores.sessions.snapshot(sid))?.revoked).toBe(true);
  });
});

describe("refreshSession: reuse detection", () => {
  it("revokes the whole session when a rotated-out token comes back after the grace", async () => {
    const lab = await coreLab({ env: { REFRESH_REUSE_INTERVAL: "10s" } });
    const { tokens } = await signUp(lab);
    const sid = claimsOf(tokens.refresh).sid;
    const successor = await refreshSession(lab.deps, tokens.refresh);
    // The successor's access token is known live to the cache before the theft.
    await callerOf(lab, successor.access);
    lab.clock.advance(10_001);
    const logs = capturedLogs(lab);

    expect(await refusal(refreshSession(lab.deps, tokens.refresh))).toBe("token_blacklisted");
    expect(lab.stores.admin.revocation(sid)).toEqual({ at: new Date(lab.clock.now()), reason: "reuse_detected" });
    expect(logs).toEqual([{ level: 40, sessionId: sid, userId: claimsOf(tokens.refresh).sub, msg: "refresh token reuse detected; session revoked" }]);
    expect(await refusal(refreshSession(lab.deps, successor.refresh))).toBe("session_revoked");
    expect(await refusal(callerOf(lab, successor.access))).toBe("session_revoked");
    expect(await refusal(callerOf(lab, tokens.access))).toBe("session_revoked");
    expect(await refusal(refreshSession(lab.deps, tokens.refresh))).toBe("session_revoked");
    expect((await lab.stores.sessions.snapshot(sid))?.revoked).toBe(true);
  });

  it("treats a replay as theft once its successor was itself rotated, even within the grace", async () => {
    const lab = await coreLab();
    const { tokens } = await signUp(lab);
    const b = await refreshSession(lab.deps, tokens.refresh);
    lab.clock.advance(1_000);
    const c = await refreshSession(lab.deps, b.refresh);
    lab.clock.advance(1_000);
    expect(await refusal(refreshSession(lab.deps, tokens.refresh))).toBe("token_blacklisted");
    expect(await refusal(refreshSession(lab.deps, c.refresh))).toBe("session_revoked");
  });

  it("revokes only the thief's session: the user's other sessions live on", async () => {
    const lab = await coreLab({ env: { REFRESH_REUSE_INTERVAL: "1s" } });
    const mine = await signUp(lab);
    const other = await signIn(lab, mine.user.phone);
    await refreshSession(lab.deps, mine.tokens.refresh);
    lab.clock.advance(2_000);
    expect(await refusal(refreshSession(lab.deps, mine.tokens.refresh))).toBe("token_blacklisted");
    await expect(callerOf(lab, other.tokens.access)).resolves.toBeDefined();
    await expect(refreshSession(lab.deps, other.tokens.refresh)).resolves.toBeDefined();
  });
});

describe("refreshSession: races", () => {
  it("gives parallel refreshes of one token one successor, and leaves one live refresh token", async () => {
    const lab = await coreLab();
    const { tokens } = await signUp(lab);
    const sid = claimsOf(tokens.refresh).sid;
    const results = await Promise.all(Array.from({ length: 8 }, () => refreshSession(lab.deps, tokens.refresh)));
    const jtis = new Set(results.map((r) => claimsOf(r.refresh).jti));
    expect(jtis.size).toBe(1);
    expect(lab.stores.admin.liveRefreshJti(sid)).toBe([...jtis][0]);
    expect(lab.stores.admin.blacklisted(sid)).toEqual([claimsOf(tokens.refresh).jti]);
    expect(lab.stores.admin.counts()).toMatchObject({ sessions: 1, tokens: 2, blacklisted: 1 });
  });

  it("with REFRESH_REUSE_INTERVAL=0s lets one parallel refresh win, then revokes the session", async () => {
    const lab = await coreLab({ env: { REFRESH_REUSE_INTERVAL: "0s" } });
    const { tokens } = await signUp(lab);
    const results = await Promise.allSettled(Array.from({ length: 4 }, () => refreshSession(lab.deps, tokens.refresh)));
    const won = results.filter((r) => r.status === "fulfilled");
    expect(won).toHaveLength(1);
    const lost = results.filter((r) => r.status === "rejected").map((r) => (r.reason as { reason: string }).reason);
    // The first loser detects the theft; the others may find the session already revoked.
    expect(lost).toHaveLength(3);
    expect(lost).toContain("token_blacklisted");
    for (const reason of lost) expect(["token_blacklisted", "session_revoked"]).toContain(reason);
    expect(await refusal(refreshSession(lab.deps, won[0]!.value.refresh))).toBe("session_revoked");
  });
});

describe("refreshSession: the session's end", () => {
  it("caps the access token at SESSION_MAX_LIFETIME and refuses to refresh past it", async () => {
    const lab = await coreLab({ env: { SESSION_MAX_LIFETIME: "2h" } });
    const start = lab.clock.now();
    const { tokens } = await signUp(lab);
    lab.clock.advance(90 * 60_000);
    const late = await refreshSession(lab.deps, tokens.refresh);
    expect(claimsOf(late.access).exp).toBe((start + 2 * HOUR_MS) / 1000);
    expect(late.accessExpiresAt).toEqual(new Date(start + 2 * HOUR_MS));
    // The refresh token keeps its own lifetime; the session refuses it at its end.
    expect(claimsOf(late.refresh).exp).toBe((lab.clock.now() + 7 * DAY_MS) / 1000);

    lab.clock.set(start + 2 * HOUR_MS - 1);
    const last = await refreshSession(lab.deps, late.refresh);
    expect(claimsOf(last.access).exp).toBe((start + 2 * HOUR_MS) / 1000);
    lab.clock.set(start + 2 * HOUR_MS);
    expect(await refusal(refreshSession(lab.deps, last.refresh))).toBe("session_expired");
  });
});

describe("refreshSession: a store that disagrees with the cache", () => {
  it("refuses as revoked when the database revoked a session the cache still holds live (a deactivated user)", async () => {
    const lab = await coreLab();
    const { user, tokens } = await signUp(lab);
    await callerOf(lab, tokens.access);
    lab.stores.admin.setActive(user.id, false);
    expect(await refusal(refreshSession(lab.deps, tokens.refresh))).toBe("session_revoked");
  });

  it("refuses a replay within the grace as revoked when the database revoked the session the cache holds live", async () => {
    const lab = await coreLab();
    const { user, tokens } = await signUp(lab);
    const successor = await refreshSession(lab.deps, tokens.refresh);
    await callerOf(lab, successor.access);
    lab.stores.admin.setActive(user.id, false);
    expect(await refusal(refreshSession(lab.deps, tokens.refresh))).toBe("session_revoked");
    lab.clock.advance(60_000);
    expect(await refusal(refreshSession(lab.deps, tokens.refresh))).toBe("session_revoked");
  });

  it("refuses as expired when the cache holds live a session the database has ended", async () => {
    const lab = await coreLab({ env: { SESSION_MAX_LIFETIME: "2h" } });
    const start = lab.clock.now();
    const { user, tokens } = await signUp(lab);
    const sid = claimsOf(tokens.refresh).sid;
    lab.clock.set(start + 2 * HOUR_MS);
    // An entry another instance wrote wrong: live for an hour more.
    await lab.kv.set(sessionCacheKey(user.id, sid), liveSessionValue(start, start + 3 * HOUR_MS), HOUR_MS);
    await assertSessionLive(lab.deps, user.id, sid);
    expect(await refusal(refreshSession(lab.deps, tokens.refresh))).toBe("session_expired");
  });

  it("refuses a token the store does not know as not valid", async () => {
    const lab = await coreLab();
    const { tokens } = await signUp(lab);
    expect(await refusal(refreshSession(lab.deps, resigned(lab, tokens.refresh, { jti: "unknown-jti" })))).toBe("token_not_valid");
    await expect(refreshSession(lab.deps, tokens.refresh)).resolves.toBeDefined();
  });

  it("refuses a token whose jti belongs to another session as not valid, and revokes neither", async () => {
    const lab = await coreLab({ env: { REFRESH_REUSE_INTERVAL: "1s" } });
    const one = await signUp(lab);
    const two = await signIn(lab, one.user.phone);
    const oneNext = await refreshSession(lab.deps, one.tokens.refresh);
    lab.clock.advance(5_000);
    const crossed = resigned(lab, one.tokens.refresh, { sid: claimsOf(two.tokens.refresh).sid });
    expect(await refusal(refreshSession(lab.deps, crossed))).toBe("token_not_valid");
    await expect(refreshSession(lab.deps, oneNext.refresh)).resolves.toBeDefined();
    await expect(refreshSession(lab.deps, two.tokens.refresh)).resolves.toBeDefined();
  });
});

describe("refreshSession with ROTATE_REFRESH_TOKENS=false", () => {
  it("answers the very refresh token presented, beside a fresh access token", async () => {
    const lab = await coreLab({ env: { ROTATE_REFRESH_TOKENS: "false" } });
    const { tokens } = await signUp(lab);
    const sid = claimsOf(tokens.refresh).sid;
    lab.clock.advance(60_000);
    const now = lab.clock.now();
    const next = await refreshSession(lab.deps, tokens.refresh);
    expect(next.refresh).toBe(tokens.refresh);
    expect(next.refreshExpiresAt).toEqual(tokens.refreshExpiresAt);
    expect(claimsOf(next.access)).toMatchObject({ sid, iat: now / 1000, exp: (now + HOUR_MS) / 1000 });
    expect(lab.stores.admin.liveRefreshJti(sid)).toBe(claimsOf(tokens.refresh).jti);
    expect(lab.stores.admin.blacklisted(sid)).toEqual([]);
    expect((await refreshSession(lab.deps, tokens.refresh)).refresh).toBe(tokens.refresh);
  });

  it("caps the access token at the session's end and carries the current names", async () => {
    const lab = await coreLab({ env: { ROTATE_REFRESH_TOKENS: "false", SESSION_MAX_LIFETIME: "2h" } });
    const start = lab.clock.now();
    const { user, tokens } = await signUp(lab);
    await lab.stores.users.updateNames(user.id, { firstName: "Zahra" }, new Date(lab.clock.now()), { type: "user.profile_updated", client: null });
    lab.clock.advance(90 * 60_000);
    const next = await refreshSession(lab.deps, tokens.refresh);
    expect(claimsOf(next.access)).toMatchObject({ exp: (start + 2 * HOUR_MS) / 1000, first_name: "Zahra" });
  });

  it("refuses a refresh token the store does not hold live as blacklisted", async () => {
    const lab = await coreLab({ env: { ROTATE_REFRESH_TOKENS: "false" } });
    const { tokens } = await signUp(lab);
    expect(await refusal(refreshSession(lab.deps, resigned(lab, tokens.refresh, { jti: "unknown-jti" })))).toBe("token_blacklisted");
  });
});
