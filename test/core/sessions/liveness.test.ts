import { describe, expect, it } from "vitest";
import type { CoreDeps } from "../../../src/core/deps.js";
import { assertSessionLive, liveRefreshToken, sessionDeadReason } from "../../../src/core/sessions/liveness.js";
import { refreshSession } from "../../../src/core/sessions/refresh.js";
import { logout, logoutAll } from "../../../src/core/sessions/revoke.js";
import { createMemoryStore } from "../../../src/store/kv/memory.js";
import { createSessionLiveness } from "../../../src/store/liveness/cache.js";
import { coreLab, type CoreLab } from "../support/core-deps.js";
import { callerOf, claimsOf, refusal, signIn, signUp } from "../support/signed-in.js";

const HOUR_MS = 3_600_000;
const live = { createdAtMs: 1_000, expiresAtMs: 5_000 };

describe("sessionDeadReason", () => {
  it("finds a live session of an active user with no logout-all live", () => {
    expect(sessionDeadReason({ session: live, user: 0 }, 4_999)).toBeUndefined();
  });

  it("finds a revoked (or unknown) session revoked", () => {
    expect(sessionDeadReason({ session: "revoked", user: 0 }, 2_000)).toBe("session_revoked");
  });

  it("finds every session of an inactive user revoked", () => {
    expect(sessionDeadReason({ session: live, user: "inactive" }, 2_000)).toBe("session_revoked");
  });

  it("finds a session started at or before the user's logout-all instant revoked, and one after live", () => {
    expect(sessionDeadReason({ session: live, user: 1_001 }, 2_000)).toBe("session_revoked");
    expect(sessionDeadReason({ session: live, user: 1_000 }, 2_000)).toBe("session_revoked");
    expect(sessionDeadReason({ session: live, user: 999 }, 2_000)).toBeUndefined();
  });

  it("finds a session expired from the instant of its end", () => {
    expect(sessionDeadReason({ session: live, user: 0 }, 5_000)).toBe("session_expired");
    expect(sessionDeadReason({ session: live, user: 0 }, 5_001)).toBe("session_expired");
  });

  it("ranks revoked above expired", () => {
    expect(sessionDeadReason({ session: "revoked", user: 0 }, 9_000)).toBe("session_revoked");
    expect(sessionDeadReason({ session: live, user: "inactive" }, 9_000)).toBe("session_revoked");
    expect(sessionDeadReason({ session: live, user: 1_000 }, 9_000)).toBe("session_revoked");
  });
});

describe("assertSessionLive", () => {
  it("resolves for a live session and refuses it once logged out", async () => {
    const lab = await coreLab();
    const { user, tokens } = await signUp(lab);
    const sid = claimsOf(tokens.access).sid;
    await expect(assertSessionLive(lab.deps, user.id, sid)).resolves.toBeUndefined();
    await logout(lab.deps, tokens.refresh);
    expect(await refusal(assertSessionLive(lab.deps, user.id, sid))).toBe("session_revoked");
  });

  it("refuses a session nobody has, and another user's session, as revoked", async () => {
    const lab = await coreLab();
    const mine = await signUp(lab);
    const theirs = await signUp(lab);
    expect(await refusal(assertSessionLive(lab.deps, mine.user.id, "no-such-session"))).toBe("session_revoked");
    expect(await refusal(assertSessionLive(lab.deps, mine.user.id, claimsOf(theirs.tokens.access).sid))).toBe("session_revoked");
  });

  it("refuses the sessions of a deactivated user as revoked", async () => {
    const lab = await coreLab();
    const { user, tokens } = await signUp(lab);
    lab.stores.admin.setActive(user.id, false);
    expect(await refusal(assertSessionLive(lab.deps, user.id, claimsOf(tokens.access).sid))).toBe("session_revoked");
  });

  it("refuses a session as expired from its SESSION_MAX_LIFETIME on", async () => {
    const lab = await coreLab({ env: { SESSION_MAX_LIFETIME: "2h" } });
    const { user, tokens } = await signUp(lab);
    const sid = claimsOf(tokens.access).sid;
    lab.clock.advance(2 * HOUR_MS - 1);
    await expect(assertSessionLive(lab.deps, user.id, sid)).resolves.toBeUndefined();
    lab.clock.advance(1);
    expect(await refusal(assertSessionLive(lab.deps, user.id, sid))).toBe("session_expired");
  });

  it("answers from the facts this process holds, without asking the shared cache", async () => {
    const lab = await coreLab({ localCopyMs: 1_000 });
    const { user, tokens } = await signUp(lab);
    const sid = claimsOf(tokens.access).sid;
    let reads = 0;
    const { liveness } = lab.deps;
    lab.deps.liveness = {
      ...liveness,
      read(userId, sessionId) {
        reads += 1;
        return liveness.read(userId, sessionId);
      },
    };
    await assertSessionLive(lab.deps, user.id, sid);
    await assertSessionLive(lab.deps, user.id, sid);
    expect(reads).toBe(1);
    // A revocation drops the held facts: the next question goes to the cache.
    await logout(lab.deps, tokens.refresh);
    expect(await refusal(assertSessionLive(lab.deps, user.id, sid))).toBe("session_revoked");
    expect(reads).toBe(2);
  });
});

describe("a flushed cache never brings a revoked session back", () => {
  /** The same stores behind an empty cache: a flushed or restarted Redis. */
  function afterFlush(lab: CoreLab): CoreDeps {
    const kv = createMemoryStore({ now: () => lab.clock.now() });
    return { ...lab.deps, kv, liveness: createSessionLiveness({ kv, sessions: lab.stores.sessions, tokens: lab.config.tokens, clock: lab.clock }) };
  }

  it("keeps logged-out, logged-out-all, stolen and deactivated sessions dead, and live ones live", async () => {
    const lab = await coreLab({ env: { REFRESH_REUSE_INTERVAL: "1s" } });
    const loggedOut = await signUp(lab);
    await logout(lab.deps, loggedOut.tokens.refresh);

    const allGone = await signUp(lab);
    const allGoneToo = await signIn(lab, allGone.user.phone);
    await logoutAll(lab.deps, await callerOf(lab, allGone.tokens.access));

    const stolen = await signUp(lab);
    const successor = await refreshSession(lab.deps, stolen.tokens.refresh);
    lab.clock.advance(2_000);
    expect(await refusal(refreshSession(lab.deps, stolen.tokens.refresh))).toBe("token_blacklisted");

    const deactivated = await signUp(lab);
    lab.stores.admin.setActive(deactivated.user.id, false);

    const alive = await signUp(lab);

    const flushed = afterFlush(lab);
    const check = (access: string) => refusal(assertSessionLive(flushed, claimsOf(access).sub, claimsOf(access).sid));
    expect(await check(loggedOut.tokens.access)).toBe("session_revoked");
    expect(await check(allGone.tokens.access)).toBe("session_revoked");
    expect(await check(allGoneToo.tokens.access)).toBe("session_revoked");
    expect(await check(successor.access)).toBe("session_revoked");
    expect(await check(deactivated.tokens.access)).toBe("session_revoked");
    await expect(assertSessionLive(flushed, alive.user.id, claimsOf(alive.tokens.access).sid)).resolves.toBeUndefined();
  });
});

describe("liveRefreshToken", () => {
  it("is the token's state while it is its session's live one, undefined once rotated out or unknown", async () => {
    const lab = await coreLab();
    const { user, tokens } = await signUp(lab);
    const { sid, jti } = claimsOf(tokens.refresh);
    expect(await liveRefreshToken(lab.deps, jti)).toMatchObject({ sessionId: sid, userId: user.id, replacedBy: null, sessionRevoked: false });
    const next = await refreshSession(lab.deps, tokens.refresh);
    expect(await liveRefreshToken(lab.deps, jti)).toBeUndefined();
    expect(await liveRefreshToken(lab.deps, claimsOf(next.refresh).jti)).toMatchObject({ sessionId: sid, replacedBy: null });
    expect(await liveRefreshToken(lab.deps, "unknown-jti")).toBeUndefined();
  });
});
