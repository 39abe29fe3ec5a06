import { describe, expect, it } from "vitest";
import { UnavailableError } from "../../../src/core/errors.js";
import { listSessions } from "../../../src/core/sessions/list.js";
import { assertSessionLive } from "../../../src/core/sessions/liveness.js";
import { refreshSession } from "../../../src/core/sessions/refresh.js";
import { logout, logoutAll, logoutOthers, revokeSession } from "../../../src/core/sessions/revoke.js";
import { sessionCacheKey } from "../../../src/store/liveness/keys.js";
import { coreLab, type CoreLab } from "../support/core-deps.js";
import { callerOf, claimsOf, refusal, refusalOf, resigned, signIn, signUp, TEST_CLIENT } from "../support/signed-in.js";

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

/** What the cache holds for a session of a user (null: nothing). */
async function cached(lab: CoreLab, userId: string, sessionId: string): Promise<string | null> {
  const [value] = await lab.kv.getMany([sessionCacheKey(userId, sessionId)]);
  return value ?? null;
}

describe("revokeSession", () => {
  it("ends one of the caller's sessions: its access token is refused at once, its refresh token too; the others live", async () => {
    const lab = await coreLab();
    const laptop = await signUp(lab);
    const phone = await signIn(lab, laptop.user.phone);
    // Known live to the cache first: the revocation must overrule what it holds.
    await callerOf(lab, phone.tokens.access);
    lab.clock.advance(1_000);

    await revokeSession(lab.deps, await callerOf(lab, laptop.tokens.access), claimsOf(phone.tokens.access).sid, TEST_CLIENT);
    expect(await refusal(callerOf(lab, phone.tokens.access))).toBe("session_revoked");
    expect(await refusal(refreshSession(lab.deps, phone.tokens.refresh))).toBe("session_revoked");
    expect(lab.stores.admin.revocation(claimsOf(phone.tokens.access).sid)).toEqual({ at: new Date(lab.clock.now()), reason: "user" });
    await expect(callerOf(lab, laptop.tokens.access)).resolves.toBeDefined();
    await expect(refreshSession(lab.deps, laptop.tokens.refresh)).resolves.toBeDefined();
  });

  it("ends the caller's own current session, as logout does", async () => {
    const lab = await coreLab();
    const { tokens } = await signUp(lab);
    const caller = await callerOf(lab, tokens.access);
    await revokeSession(lab.deps, caller, caller.sessionId);
    expect(await refusal(callerOf(lab, tokens.access))).toBe("session_revoked");
    expect(await refusal(refreshSession(lab.deps, tokens.refresh))).toBe("session_revoked");
  });

  it("records session.revoked about the session, by its user, with the client of the call", async () => {
    const lab = await coreLab();
    const laptop = await signUp(lab);
    const phone = await signIn(lab, laptop.user.phone);
    const sid = claimsOf(phone.tokens.access).sid;
    await revokeSession(lab.deps, await callerOf(lab, laptop.tokens.access), sid, { ip: "192.0.2.44", userAgent: "Firefox" });
    expect(lab.stores.admin.auditEvents().at(-1)).toMatchObject({
      type: "session.revoked",
      userId: laptop.user.id,
      sessionId: sid,
      actor: `user:${laptop.user.id}`,
      ip: "192.0.2.44",
      userAgent: "Firefox",
      details: {},
    });
  });

  it("answers an unknown id, another user's session and an ended one alike, not_found, marking and changing nothing", async () => {
    const lab = await coreLab();
    const me = await signUp(lab);
    const caller = await callerOf(lab, me.tokens.access);
    const stranger = await signUp(lab);
    const strangerSid = claimsOf(stranger.tokens.access).sid;
    await callerOf(lab, stranger.tokens.access);
    const ended = await signIn(lab, me.user.phone);
    await logout(lab.deps, ended.tokens.refresh);
    const endedSid = claimsOf(ended.tokens.access).sid;
    const events = lab.stores.admin.auditEvents().length;
    const strangerCached = await cached(lab, stranger.user.id, strangerSid);

    const answers = [];
    for (const id of [lab.deps.random.id(), strangerSid, endedSid]) {
      const error = await refusalOf(revokeSession(lab.deps, caller, id));
      answers.push({ reason: error.reason, message: error.message, field: error.field });
    }
    expect(answers).toEqual(Array(3).fill({ reason: "not_found", message: answers[0]!.message, field: undefined }));

    await expect(callerOf(lab, stranger.tokens.access)).resolves.toBeDefined();
    await expect(refreshSession(lab.deps, stranger.tokens.refresh)).resolves.toBeDefined();
    expect(await cached(lab, me.user.id, strangerSid)).toBeNull();
    expect(await cached(lab, stranger.user.id, strangerSid)).toBe(strangerCached);
    expect(lab.stores.admin.revocation(endedSid)).toMatchObject({ reason: "logout" });
    expect(lab.stores.admin.auditEvents()).toHaveLength(events);
  });

  it("answers not_found for a session that ended between the read and the change", async () => {
    const lab = await coreLab();
    const laptop = await signUp(lab);
    const phone = await signIn(lab, laptop.user.phone);
    const real = lab.stores.sessions;
    lab.deps.sessions = {
      ...real,
      async listLive(userId, now) {
        const live = await real.listLive(userId, now);
        await logout(lab.deps, phone.tokens.refresh);
        return live;
      },
    };
    expect(await refusal(revokeSession(lab.deps, await callerOf(lab, laptop.tokens.access), claimsOf(phone.tokens.access).sid))).toBe("not_found");
    expect(lab.stores.admin.revocation(claimsOf(phone.tokens.access).sid)).toMatchObject({ reason: "logout" });
  });

  it("refuses what is not a session id with validation_error on session_id, before any read", async () => {
    const lab = await coreLab();
    const { tokens } = await signUp(lab);
    const caller = await callerOf(lab, tokens.access);
    const sid = caller.sessionId;
    lab.deps.sessions = { ...lab.stores.sessions, listLive: () => Promise.reject(new Error("no read expected")) };
    for (const id of ["", "short", `${sid}A`, sid.slice(1), `${sid.slice(0, 21)}=`, `${sid.slice(0, 21)}+`, `${sid.slice(0, 21)}/`, ` ${sid.slice(1)}`, 42 as unknown as string]) {
      const error = await refusalOf(revokeSession(lab.deps, caller, id));
      expect({ id, reason: error.reason, field: error.field }).toEqual({ id, reason: "validation_error", field: "session_id" });
    }
    lab.deps.sessions = lab.stores.sessions;
    await expect(callerOf(lab, tokens.access)).resolves.toBeDefined();
  });

  it("keeps the revocation in the cache until the session's end when the database fails", async () => {
    const lab = await coreLab({ env: { SESSION_MAX_LIFETIME: "10d", REFRESH_TOKEN_LIFETIME: "10d" } });
    const laptop = await signUp(lab);
    const phone = await signIn(lab, laptop.user.phone);
    const sid = claimsOf(phone.tokens.access).sid;
    const caller = await callerOf(lab, laptop.tokens.access);
    const down = new UnavailableError("database", "connection refused");
    lab.deps.sessions = { ...lab.stores.sessions, revokeOfUser: () => Promise.reject(down) };
    await expect(revokeSession(lab.deps, caller, sid)).rejects.toBe(down);
    lab.deps.sessions = lab.stores.sessions;

    expect((await lab.stores.sessions.snapshot(sid))?.revoked).toBe(false);
    lab.clock.advance(10 * DAY_MS - 1_000);
    expect(await refusal(assertSessionLive(lab.deps, laptop.user.id, sid))).toBe("session_revoked");
    expect(await refusal(refreshSession(lab.deps, phone.tokens.refresh))).toBe("session_revoked");
  });
});

describe("logoutOthers", () => {
  it("ends every session of the caller but the current one, at once, and counts them", async () => {
    const lab = await coreLab();
    const one = await signUp(lab);
    const two = await signIn(lab, one.user.phone);
    const three = await signIn(lab, one.user.phone);
    const ended = await signIn(lab, one.user.phone);
    await logout(lab.deps, ended.tokens.refresh);
    const stranger = await signUp(lab);
    for (const s of [one, three]) await callerOf(lab, s.tokens.access);

    const caller = await callerOf(lab, two.tokens.access);
    expect(await logoutOthers(lab.deps, caller)).toBe(2);
    for (const s of [one, three]) {
      expect(await refusal(callerOf(lab, s.tokens.access))).toBe("session_revoked");
      expect(await refusal(refreshSession(lab.deps, s.tokens.refresh))).toBe("session_revoked");
      expect(lab.stores.admin.revocation(claimsOf(s.tokens.access).sid)).toMatchObject({ reason: "logout_others" });
    }
    expect((await listSessions(lab.deps, caller)).map((s) => s.id)).toEqual([caller.sessionId]);
    await expect(refreshSession(lab.deps, two.tokens.refresh)).resolves.toBeDefined();
    await expect(callerOf(lab, stranger.tokens.access)).resolves.toBeDefined();
  });

  it("records one session.logged_out_others event about the user and the current session, with the count", async () => {
    const lab = await coreLab();
    const one = await signUp(lab);
    await signIn(lab, one.user.phone);
    const caller = await callerOf(lab, one.tokens.access);
    expect(await logoutOthers(lab.deps, caller, TEST_CLIENT)).toBe(1);
    expect(await logoutOthers(lab.deps, caller, TEST_CLIENT)).toBe(0);
    const events = lab.stores.admin.auditEvents().filter((e) => e.type === "session.logged_out_others");
    expect(events).toEqual([
      expect.objectContaining({ userId: one.user.id, sessionId: caller.sessionId, actor: `user:${one.user.id}`, ...TEST_CLIENT, details: { revoked: 1 } }),
      expect.objectContaining({ details: { revoked: 0 } }),
    ]);
  });

  it("keeps the revocations in the cache until each session's end when the database fails", async () => {
    const lab = await coreLab();
    const one = await signUp(lab);
    const two = await signIn(lab, one.user.phone);
    const caller = await callerOf(lab, one.tokens.access);
    const down = new UnavailableError("database", "connection refused");
    lab.deps.sessions = { ...lab.stores.sessions, revokeOthers: () => Promise.reject(down) };
    await expect(logoutOthers(lab.deps, caller)).rejects.toBe(down);
    lab.deps.sessions = lab.stores.sessions;

    lab.clock.advance(29 * DAY_MS);
    expect(await refusal(assertSessionLive(lab.deps, one.user.id, claimsOf(two.tokens.access).sid))).toBe("session_revoked");
    await expect(assertSessionLive(lab.deps, one.user.id, caller.sessionId)).resolves.toBeUndefined();
  });
});
