import { describe, expect, it } from "vitest";
import { listSessions } from "../../../src/core/sessions/list.js";
import { refreshSession } from "../../../src/core/sessions/refresh.js";
import { logout } from "../../../src/core/sessions/revoke.js";
import { coreLab } from "../support/core-deps.js";
import { callerOf, claimsOf, signIn, signUp, TEST_CLIENT } from "../support/signed-in.js";

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const PHONE_APP = { ip: "198.51.100.23", userAgent: "identity-app/2.0 (Android 14)" };

describe("listSessions", () => {
  it("lists the caller's live sessions, most recently used first, marking the one the call came from", async () => {
    const lab = await coreLab();
    const start = lab.clock.now();
    const laptop = await signUp(lab);
    lab.clock.advance(60_000);
    const phone = await signIn(lab, laptop.user.phone, PHONE_APP);
    lab.clock.advance(60_000);
    const refreshed = await refreshSession(lab.deps, laptop.tokens.refresh, TEST_CLIENT);

    const fromPhone = await listSessions(lab.deps, await callerOf(lab, phone.tokens.access));
    expect(fromPhone).toEqual([
      { id: claimsOf(laptop.tokens.access).sid, createdAt: new Date(start), lastUsedAt: new Date(start + 120_000), expiresAt: new Date(start + 30 * DAY_MS), ...TEST_CLIENT, current: false },
      { id: claimsOf(phone.tokens.access).sid, createdAt: new Date(start + 60_000), lastUsedAt: new Date(start + 60_000), expiresAt: new Date(start + 60_000 + 30 * DAY_MS), ...PHONE_APP, current: true },
    ]);
    const fromLaptop = await listSessions(lab.deps, await callerOf(lab, refreshed.access));
    expect(fromLaptop.map((s) => s.current)).toEqual([true, false]);
  });

  it("moves a session's last use and client at a refresh, never at an access-token use", async () => {
    const lab = await coreLab();
    const start = lab.clock.now();
    const { tokens } = await signUp(lab);
    lab.clock.advance(HOUR_MS / 2);
    const caller = await callerOf(lab, tokens.access);
    expect(await listSessions(lab.deps, caller)).toMatchObject([{ lastUsedAt: new Date(start), ...TEST_CLIENT }]);

    await refreshSession(lab.deps, tokens.refresh, PHONE_APP);
    expect(await listSessions(lab.deps, caller)).toMatchObject([{ lastUsedAt: new Date(start + HOUR_MS / 2), ...PHONE_APP }]);
  });

  it("leaves out sessions that ended, and other users' sessions", async () => {
    const lab = await coreLab();
    const one = await signUp(lab);
    const two = await signIn(lab, one.user.phone);
    await signUp(lab);
    await logout(lab.deps, one.tokens.refresh);
    expect((await listSessions(lab.deps, await callerOf(lab, two.tokens.access))).map((s) => s.id)).toEqual([claimsOf(two.tokens.access).sid]);
  });
});
