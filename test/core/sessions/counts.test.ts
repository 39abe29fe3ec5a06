/**
 * What sessions count: the tokens each start and refresh signs, each refresh's
 * outcome, and the sessions each way of ending them ended, by cause and number.
 */
import { describe, expect, it } from "vitest";
import { revokeUserSessions } from "../../../src/core/admin/revoke-sessions.js";
import { updateUser } from "../../../src/core/admin/update-user.js";
import { UnavailableError } from "../../../src/core/errors.js";
import { refreshSession } from "../../../src/core/sessions/refresh.js";
import { logout, logoutAll, logoutOthers, revokeSession } from "../../../src/core/sessions/revoke.js";
import { coreLab, type CoreLab, type CoreLabOptions } from "../support/core-deps.js";
import { recordedMetrics, type RecordedMetrics } from "../support/recorded-metrics.js";
import { callerOf, claimsOf, refusal, signIn, signUp } from "../support/signed-in.js";

const SYSTEM = { kind: "system" } as const;
const PAIR = [
  ["tokensIssued", "access"],
  ["tokensIssued", "refresh"],
];

async function countedLab(options: CoreLabOptions = {}): Promise<{ lab: CoreLab; metrics: RecordedMetrics }> {
  const metrics = recordedMetrics();
  return { lab: await coreLab({ ...options, metrics }), metrics };
}

/** A user signed in `n` times (n sessions), with nothing counted yet. */
async function sessionsOfOneUser(lab: CoreLab, metrics: RecordedMetrics, n: number) {
  const first = await signUp(lab);
  const sessions = [first];
  while (sessions.length < n) sessions.push(await signIn(lab, first.user.phone));
  metrics.take();
  return sessions;
}

describe("starting a session", () => {
  it("signs one access and one refresh token", async () => {
    const { lab, metrics } = await countedLab();
    await signUp(lab);
    expect(metrics.take()).toEqual(PAIR);
  });
});

describe("refreshSession counts its outcome", () => {
  it("rotated, with the new pair signed", async () => {
    const { lab, metrics } = await countedLab();
    const [session] = await sessionsOfOneUser(lab, metrics, 1);
    await refreshSession(lab.deps, session!.tokens.refresh);
    expect(metrics.take()).toEqual([...PAIR, ["refreshed", "rotated"]]);
  });

  it("grace_replay for the same token again within REFRESH_REUSE_INTERVAL", async () => {
    const { lab, metrics } = await countedLab();
    const [session] = await sessionsOfOneUser(lab, metrics, 1);
    await refreshSession(lab.deps, session!.tokens.refresh);
    metrics.take();
    lab.clock.advance(1_000);
    await refreshSession(lab.deps, session!.tokens.refresh);
    expect(metrics.take()).toEqual([...PAIR, ["refreshed", "grace_replay"]]);
  });

  it("reuse_detected after it, with the one session it ended; a reuse after that is refused", async () => {
    const { lab, metrics } = await countedLab();
    const [session] = await sessionsOfOneUser(lab, metrics, 1);
    await refreshSession(lab.deps, session!.tokens.refresh);
    metrics.take();
    lab.clock.advance(60_000);
    expect(await refusal(refreshSession(lab.deps, session!.tokens.refresh))).toBe("token_blacklisted");
    expect(metrics.take()).toEqual([
      ["sessionsRevoked", "reuse_detected", 1],
      ["refreshed", "reuse_detected"],
    ]);
    expect(await refusal(refreshSession(lab.deps, session!.tokens.refresh))).toBe("session_revoked");
    expect(metrics.take()).toEqual([["refreshed", "refused"]]);
  });

  it("refused for an access token, garbage, an expired token and a logged-out session", async () => {
    const { lab, metrics } = await countedLab({ env: { REFRESH_TOKEN_LIFETIME: "2h" } });
    const [one, two] = await sessionsOfOneUser(lab, metrics, 2);
    await logout(lab.deps, two!.tokens.refresh);
    metrics.take();
    expect(await refusal(refreshSession(lab.deps, one!.tokens.access))).toBe("token_wrong_type");
    expect(await refusal(refreshSession(lab.deps, "not.a.token"))).toBe("token_not_valid");
    expect(await refusal(refreshSession(lab.deps, two!.tokens.refresh))).toBe("session_revoked");
    lab.clock.advance(2 * 3_600_000);
    expect(await refusal(refreshSession(lab.deps, one!.tokens.refresh))).toBe("token_expired");
    expect(metrics.take()).toEqual(Array.from({ length: 4 }, () => ["refreshed", "refused"]));
  });

  it("counts nothing when the store fails: that is no refusal", async () => {
    const { lab, metrics } = await countedLab();
    const [session] = await sessionsOfOneUser(lab, metrics, 1);
    lab.deps.sessions = { ...lab.stores.sessions, rotate: () => Promise.reject(new UnavailableError("database", "down")) };
    await expect(refreshSession(lab.deps, session!.tokens.refresh)).rejects.toBeInstanceOf(UnavailableError);
    expect(metrics.take()).toEqual([]);
  });

  it("without rotation: rotated, with only an access token signed (the refresh token is the one presented)", async () => {
    const { lab, metrics } = await countedLab({ env: { ROTATE_REFRESH_TOKENS: "false", BLACKLIST_AFTER_ROTATION: "false" } });
    const [session] = await sessionsOfOneUser(lab, metrics, 1);
    const pair = await refreshSession(lab.deps, session!.tokens.refresh);
    expect(pair.refresh).toBe(session!.tokens.refresh);
    expect(pair.refreshExpiresAt).toEqual(session!.tokens.refreshExpiresAt);
    expect(metrics.take()).toEqual([
      ["tokensIssued", "access"],
      ["refreshed", "rotated"],
    ]);
  });
});

describe("ending sessions counts how many ended, by cause", () => {
  it("logout: one; the same token again ends none", async () => {
    const { lab, metrics } = await countedLab();
    const [session] = await sessionsOfOneUser(lab, metrics, 1);
    await logout(lab.deps, session!.tokens.refresh);
    expect(await refusal(logout(lab.deps, session!.tokens.refresh))).toBe("token_blacklisted");
    expect(metrics.take()).toEqual([["sessionsRevoked", "logout", 1]]);
  });

  it("logout_all: every live session; a second one: none", async () => {
    const { lab, metrics } = await countedLab();
    const [one, two] = await sessionsOfOneUser(lab, metrics, 3);
    await logout(lab.deps, two!.tokens.refresh);
    const caller = await callerOf(lab, one!.tokens.access);
    metrics.take();
    expect(await logoutAll(lab.deps, caller)).toBe(2);
    expect(await logoutAll(lab.deps, caller)).toBe(0);
    expect(metrics.take()).toEqual([
      ["sessionsRevoked", "logout_all", 2],
      ["sessionsRevoked", "logout_all", 0],
    ]);
  });

  it("logout_others: every other live session", async () => {
    const { lab, metrics } = await countedLab();
    const [one] = await sessionsOfOneUser(lab, metrics, 3);
    expect(await logoutOthers(lab.deps, await callerOf(lab, one!.tokens.access))).toBe(2);
    expect(metrics.take()).toEqual([["sessionsRevoked", "logout_others", 2]]);
  });

  it("user: the one session revoked from the list; none for one already ended", async () => {
    const { lab, metrics } = await countedLab();
    const [one, two] = await sessionsOfOneUser(lab, metrics, 2);
    const caller = await callerOf(lab, one!.tokens.access);
    const sid = claimsOf(two!.tokens.access).sid;
    await revokeSession(lab.deps, caller, sid);
    expect(await refusal(revokeSession(lab.deps, caller, sid))).toBe("not_found");
    expect(metrics.take()).toEqual([["sessionsRevoked", "user", 1]]);
  });

  it("admin: every live session staff ended (the store still records logout_all)", async () => {
    const { lab, metrics } = await countedLab();
    const [one] = await sessionsOfOneUser(lab, metrics, 2);
    expect(await revokeUserSessions(lab.deps, SYSTEM, one!.user.id, null)).toBe(2);
    expect(metrics.take()).toEqual([["sessionsRevoked", "admin", 2]]);
    expect(lab.stores.admin.revocation(claimsOf(one!.tokens.access).sid)?.reason).toBe("logout_all");
  });

  it("deactivated: every live session of a disabled user; other flag changes: none", async () => {
    const { lab, metrics } = await countedLab();
    const [one] = await sessionsOfOneUser(lab, metrics, 3);
    await updateUser(lab.deps, SYSTEM, one!.user.id, { isStaff: true }, null);
    await updateUser(lab.deps, SYSTEM, one!.user.id, { isActive: false }, null);
    await updateUser(lab.deps, SYSTEM, one!.user.id, { isActive: false }, null);
    expect(metrics.take()).toEqual([
      ["sessionsRevoked", "deactivated", 0],
      ["sessionsRevoked", "deactivated", 3],
      ["sessionsRevoked", "deactivated", 0],
    ]);
  });
});
