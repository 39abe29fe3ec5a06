import { describe, expect, it } from "vitest";
import { UnavailableError } from "../../../src/core/errors.js";
import { assertSessionLive } from "../../../src/core/sessions/liveness.js";
import { refreshSession } from "../../../src/core/sessions/refresh.js";
import { logout, logoutAll } from "../../../src/core/sessions/revoke.js";
import { coreLab } from "../support/core-deps.js";
import { callerOf, claimsOf, refusal, resigned, signIn, signUp } from "../support/signed-in.js";

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

describe("logout", () => {
  it("ends the session: its access token is refused at once, its refresh token too", async () => {
    const lab = await coreLab();
    const { tokens } = await signUp(lab);
    const sid = claimsOf(tokens.refresh).sid;
    // Known live to the cache first: the logout must overrule what it holds.
    await callerOf(lab, tokens.access);
    lab.clock.advance(1_000);
    await logout(lab.deps, tokens.refresh);
    expect(await refusal(callerOf(lab, tokens.access))).toBe("session_revoked");
    expect(await refusal(refreshSession(lab.deps, tokens.refresh))).toBe("session_revoked");
    expect(lab.stores.admin.revocation(sid)).toEqual({ at: new Date(lab.clock.now()), reason: "logout" });
  });

  it("ends that session only", async () => {
    const lab = await coreLab();
    const one = await signUp(lab);
    const two = await signIn(lab, one.user.phone);
    await logout(lab.deps, one.tokens.refresh);
    await expect(callerOf(lab, two.tokens.access)).resolves.toMatchObject({ sessionId: claimsOf(two.tokens.access).sid });
    await expect(refreshSession(lab.deps, two.tokens.refresh)).resolves.toBeDefined();
  });

  it("refuses a second logout of the same session as blacklisted", async () => {
    const lab = await coreLab();
    const { tokens } = await signUp(lab);
    await logout(lab.deps, tokens.refresh);
    expect(await refusal(logout(lab.deps, tokens.refresh))).toBe("token_blacklisted");
  });

  it("refuses a garbage token, an access token, and a token of a session nobody has", async () => {
    const lab = await coreLab();
    const { tokens } = await signUp(lab);
    expect(await refusal(logout(lab.deps, "garbage"))).toBe("token_not_valid");
    expect(await refusal(logout(lab.deps, tokens.access))).toBe("token_wrong_type");
    expect(await refusal(logout(lab.deps, resigned(lab, tokens.refresh, { sid: "no-such-session" })))).toBe("token_blacklisted");
    // None of them touched the real session.
    await expect(callerOf(lab, tokens.access)).resolves.toBeDefined();
  });

  it("keeps the revocation in the cache until the refresh token (plus leeway) is dead when the database fails", async () => {
    const lab = await coreLab({ env: { JWT_LEEWAY: "1h" } });
    const { user, tokens } = await signUp(lab);
    const sid = claimsOf(tokens.refresh).sid;
    const down = new UnavailableError("database", "connection refused");
    lab.deps.sessions = { ...lab.stores.sessions, revoke: () => Promise.reject(down) };
    await expect(logout(lab.deps, tokens.refresh)).rejects.toBe(down);
    lab.deps.sessions = lab.stores.sessions;

    // The database never recorded it; the cache's mark outlives every entry's usual
    // lifetime, and the refresh token's exp plus the leeway.
    expect((await lab.stores.sessions.snapshot(sid))?.revoked).toBe(false);
    lab.clock.advance(7 * DAY_MS + 30 * 60_000);
    expect(await refusal(assertSessionLive(lab.deps, user.id, sid))).toBe("session_revoked");
    expect(await refusal(refreshSession(lab.deps, tokens.refresh))).toBe("session_revoked");
  });
});

describe("logoutAll", () => {
  it("ends every session of the user and counts those that were live", async () => {
    const lab = await coreLab();
    const one = await signUp(lab);
    const two = await signIn(lab, one.user.phone);
    const three = await signIn(lab, one.user.phone);
    const stranger = await signUp(lab);
    await logout(lab.deps, two.tokens.refresh);
    for (const s of [one, three]) await callerOf(lab, s.tokens.access);

    expect(await logoutAll(lab.deps, await callerOf(lab, three.tokens.access))).toBe(2);
    for (const s of [one, two, three]) {
      expect(await refusal(callerOf(lab, s.tokens.access))).toBe("session_revoked");
      expect(await refusal(refreshSession(lab.deps, s.tokens.refresh))).toBe("session_revoked");
    }
    await expect(callerOf(lab, stranger.tokens.access)).resolves.toBeDefined();
  });

  it("never ends a login that came after it, even in the same millisecond", async () => {
    const lab = await coreLab();
    const first = await signUp(lab);
    const caller = await callerOf(lab, first.tokens.access);
    expect(await logoutAll(lab.deps, caller)).toBe(1);
    const after = await signIn(lab, first.user.phone);
    await expect(callerOf(lab, after.tokens.access)).resolves.toBeDefined();
    await expect(refreshSession(lab.deps, after.tokens.refresh)).resolves.toBeDefined();
    expect(await refusal(callerOf(lab, first.tokens.access))).toBe("session_revoked");
  });

  it("counts nothing when nothing was live", async () => {
    const lab = await coreLab();
    const { tokens } = await signUp(lab);
    const caller = await callerOf(lab, tokens.access);
    expect(await logoutAll(lab.deps, caller)).toBe(1);
    expect(await logoutAll(lab.deps, caller)).toBe(0);
  });

  it("ends a session that started later than this instance's clock reads (after a logout-all from a clock ahead)", async () => {
    const lab = await coreLab();
    const start = lab.clock.now();
    const { user, tokens } = await signUp(lab);
    lab.clock.set(start + 10_000);
    expect(await logoutAll(lab.deps, await callerOf(lab, tokens.access))).toBe(1);
    // This instance's clock is behind the one that recorded the logout-all: its
    // login still starts after that instant, and lives.
    lab.clock.set(start + 5_000);
    const behind = await signIn(lab, user.phone);
    const caller = await callerOf(lab, behind.tokens.access);

    expect(await logoutAll(lab.deps, caller)).toBe(1);
    expect(await refusal(callerOf(lab, behind.tokens.access))).toBe("session_revoked");
    expect(await refusal(refreshSession(lab.deps, behind.tokens.refresh))).toBe("session_revoked");
  });

  it("never moves the logout-all instant back", async () => {
    const lab = await coreLab();
    const start = lab.clock.now();
    const { user, tokens } = await signUp(lab);
    lab.clock.set(start + 7_000);
    const later = await signIn(lab, user.phone);
    const caller = await callerOf(lab, later.tokens.access);
    lab.clock.set(start + 10_000);
    expect(await logoutAll(lab.deps, await callerOf(lab, tokens.access))).toBe(2);

    // Another logout-all (the same caller's, sent twice) from a clock further behind
    // than the later session started: that session stays dead.
    lab.clock.set(start + 5_000);
    expect(await logoutAll(lab.deps, caller)).toBe(0);
    expect(await refusal(callerOf(lab, later.tokens.access))).toBe("session_revoked");
    expect(await refusal(assertSessionLive(lab.deps, user.id, claimsOf(later.tokens.access).sid))).toBe("session_revoked");
  });
});
