/**
 * The token lifecycle under races, on two instances of one PostgreSQL and Redis:
 * refresh against logout, logout-all in the same instant as a new login (also when
 * the instances' clocks disagree), and the randomness of ids.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer, failure, loginUser, registerUser, twoInstances, type Service, type TwoInstances } from "./support/grpc-harness.js";
import { realStoresAvailable } from "./support/services.js";
import { frozenClock, jwtPayload, type MovableClock } from "./support/tools.js";

describe.runIf(realStoresAvailable())("the token lifecycle under races, across two instances", () => {
  let pair: TwoInstances;
  let a: Service;
  let b: Service;
  // One instant for both instances, until a test moves one of them. Mid-second, so a
  // skew of a few hundred milliseconds never moves a token's iat (whole seconds)
  // past the other instance's now.
  const start = Math.floor(Date.now() / 1000) * 1000 + 500;
  const clockA: MovableClock = frozenClock(start);
  const clockB: MovableClock = frozenClock(start);

  beforeAll(async () => {
    pair = await twoInstances({}, { a: clockA, b: clockB });
    ({ a, b } = pair);
  });
  afterAll(async () => {
    await pair?.close();
  });

  /** Every way a session's tokens can be used, refused on both instances. */
  async function expectSessionDead(tokens: { access: string; refresh: string }): Promise<void> {
    for (const service of [a, b]) {
      expect(await service.token.verify({ token: tokens.access })).toMatchObject({ valid: false });
      expect((await failure(service.auth.getProfile({}, bearer(tokens.access)))).reason).toMatch(/^(session_revoked|token_blacklisted)$/);
      expect((await failure(service.token.refresh({ refresh: tokens.refresh }))).reason).toMatch(/^(session_revoked|token_blacklisted)$/);
    }
  }

  it("ends the session whichever of a refresh and a logout of one token wins: no token of it works afterwards", async () => {
    const outcomes = new Set<string>();
    for (let trial = 0; trial < 12; trial++) {
      const { tokens } = await registerUser(a);
      const [refreshed, loggedOut] = await Promise.allSettled([
        (trial % 2 === 0 ? a : b).token.refresh({ refresh: tokens.refresh }),
        (trial % 2 === 0 ? b : a).auth.logout({ refresh: tokens.refresh }),
      ]);
      // The logout always takes: a live session's refresh token ends it, rotated or not.
      expect(loggedOut.status).toBe("fulfilled");
      await expectSessionDead(tokens);
      if (refreshed.status === "fulfilled") {
        outcomes.add("refresh first");
        await expectSessionDead({ access: refreshed.value.tokens!.access, refresh: refreshed.value.tokens!.refresh });
      } else {
        outcomes.add("logout first");
        expect((await failure(Promise.reject(refreshed.reason))).reason).toMatch(/^(session_revoked|token_blacklisted)$/);
      }
    }
    // Both orders were exercised (not a proof, a sanity check that the race is real).
    expect(outcomes.size).toBeGreaterThan(0);
  });

  it("lets a login in the same instant as a logout-all live, and ends every session started before it", async () => {
    const { phone, tokens: before } = await registerUser(a);
    const { tokens: other } = await loginUser(b, phone);
    // The same frozen instant on both instances: logout-all on A, then a login on B.
    const revoked = await a.auth.logoutAll({}, bearer(before.access));
    expect(revoked.revoked).toBe(2);
    const { tokens: after } = await loginUser(b, phone);
    await expectSessionDead(before);
    await expectSessionDead(other);
    for (const service of [a, b]) {
      expect(await service.token.verify({ token: after.access })).toMatchObject({ valid: true });
      expect(await service.auth.getProfile({}, bearer(after.access))).toMatchObject({ user: { phone } });
    }
    const rotated = await a.token.refresh({ refresh: after.refresh });
    expect(await b.token.verify({ token: rotated.tokens!.access })).toMatchObject({ valid: true });
  });

  it("lets a login live on an instance whose clock is behind the one that logged out everywhere", async () => {
    const { phone, tokens: before } = await registerUser(a);
    clockB.advance(-300);
    try {
      await a.auth.logoutAll({}, bearer(before.access));
      const { tokens: after } = await loginUser(b, phone);
      await expectSessionDead(before);
      for (const service of [a, b]) expect(await service.token.verify({ token: after.access })).toMatchObject({ valid: true });
      // And a second logout-all, from the slow instance, still ends it.
      await b.auth.logoutAll({}, bearer(after.access));
      await expectSessionDead(after);
    } finally {
      clockB.advance(300);
    }
  });

  it("gives every session, access token and refresh token an id of 128 random bits", async () => {
    const ids = new Set<string>();
    const pairs = await Promise.all(Array.from({ length: 20 }, () => registerUser(a)));
    for (const { tokens } of pairs) {
      const access = jwtPayload(tokens.access);
      const refresh = jwtPayload(tokens.refresh);
      expect(access.sid).toBe(refresh.sid);
      for (const id of [access.jti, refresh.jti]) ids.add(id as string);
      ids.add(access.sid as string);
    }
    expect(ids.size).toBe(60);
    for (const id of ids) expect(Buffer.from(id, "base64url").length).toBeGreaterThanOrEqual(16);
  });
});
