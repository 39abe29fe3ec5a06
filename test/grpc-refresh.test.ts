/**
 * Refresh-token rotation through a real gRPC client, on real PostgreSQL + Redis and
 * on the embedded default: the reuse interval, reuse detection, races, the session
 * cap, and the SimpleJWT switches.
 */
import { Code } from "@connectrpc/connect";
import { afterAll, describe, expect, it } from "vitest";
import { bearer, failure, loginUser, registerUser, type Service, type StartOptions, type StoreMode } from "./support/grpc-harness.js";
import { realStoresAvailable } from "./support/services.js";
import { frozenClock, jwtPayload, lab, movableClock } from "./support/tools.js";

const modes: StoreMode[] = realStoresAvailable() ? ["real", "embedded"] : ["embedded"];
const MINUTE = 60_000;

describe.each(modes)("refresh-token rotation over gRPC (%s stores)", (mode) => {
  // One clock for the suite: tests only ever move it forward, each with its own users.
  const clock = movableClock();
  const stores = lab(mode, { clock });
  afterAll(() => stores.close());
  const boot = (env: Record<string, string> = {}, options: Omit<StartOptions, "env"> = {}) => stores.service(env, options);

  async function sessionRow(service: Service, sid: string) {
    const rows = await service.app.db.query<{ current_refresh_jti: string; expires_at: Date; revoked_at: Date | null; revoked_reason: string | null }>(
      "SELECT current_refresh_jti, expires_at, revoked_at, revoked_reason FROM sessions WHERE id = $1",
      [sid],
    );
    return rows[0]!;
  }

  async function liveRefreshJtis(service: Service, sid: string): Promise<string[]> {
    const rows = await service.app.db.query<{ jti: string }>("SELECT jti FROM outstanding_tokens WHERE session_id = $1 AND replaced_by IS NULL", [sid]);
    return rows.map((r) => r.jti);
  }

  async function blacklistedOf(service: Service, sid: string): Promise<string[]> {
    const rows = await service.app.db.query<{ jti: string }>(
      "SELECT b.jti FROM blacklisted_tokens b JOIN outstanding_tokens t ON t.jti = b.jti WHERE t.session_id = $1",
      [sid],
    );
    return rows.map((r) => r.jti);
  }

  it("gives a rotated refresh token presented again within REFRESH_REUSE_INTERVAL the same successor", async () => {
    const service = await boot();
    const { tokens } = await registerUser(service);
    const first = (await service.token.refresh({ refresh: tokens.refresh })).tokens!;

    clock.advance(5_000); // REFRESH_REUSE_INTERVAL defaults to 10s
    const again = (await service.token.refresh({ refresh: tokens.refresh })).tokens!;
    const successor = jwtPayload(first.refresh);
    expect(jwtPayload(again.refresh)).toMatchObject({ jti: successor.jti, sid: successor.sid, exp: successor.exp, token_type: "refresh" });
    expect(again.refreshExpiresAt!.seconds).toBe(first.refreshExpiresAt!.seconds);
    // A fresh access token of the same session, and the session is untouched.
    expect(jwtPayload(again.access).jti).not.toBe(jwtPayload(first.access).jti);
    expect(await service.token.verify({ token: again.access })).toMatchObject({ valid: true });
    const sid = successor.sid as string;
    expect(await sessionRow(service, sid)).toMatchObject({ current_refresh_jti: successor.jti, revoked_at: null });
    expect(await liveRefreshJtis(service, sid)).toEqual([successor.jti]);
    // The replayed successor is the session's live refresh token: it rotates on.
    const next = (await service.token.refresh({ refresh: again.refresh })).tokens!;
    expect(jwtPayload(next.refresh).jti).not.toBe(successor.jti);
  });

  it("treats a rotated refresh token presented after the interval as theft: token_blacklisted, and the whole session is revoked", async () => {
    const service = await boot();
    const { phone, tokens } = await registerUser(service);
    const { tokens: otherSession } = await loginUser(service, phone);
    const successor = (await service.token.refresh({ refresh: tokens.refresh })).tokens!;

    clock.advance(10_001);
    expect(await failure(service.token.refresh({ refresh: tokens.refresh }))).toMatchObject({ code: Code.PermissionDenied, reason: "token_blacklisted" });

    // The successor (held by whoever rotated first) dies with the session.
    expect(await failure(service.token.refresh({ refresh: successor.refresh }))).toMatchObject({ code: Code.PermissionDenied, reason: "session_revoked" });
    expect(await service.token.verify({ token: successor.access })).toMatchObject({ valid: false, reason: "session_revoked" });
    expect(await service.token.verify({ token: tokens.access })).toMatchObject({ valid: false, reason: "session_revoked" });
    expect(await failure(service.auth.getProfile({}, bearer(successor.access)))).toMatchObject({ code: Code.PermissionDenied, reason: "session_revoked" });
    const sid = jwtPayload(tokens.refresh).sid as string;
    expect(await sessionRow(service, sid)).toMatchObject({ revoked_reason: "reuse_detected" });
    // Only that session: the user's other session lives on.
    expect(await service.token.verify({ token: otherSession.access })).toMatchObject({ valid: true });
    expect((await service.token.refresh({ refresh: otherSession.refresh })).tokens!.access).not.toBe("");
  });

  it("answers 20 concurrent refreshes of one token with one and the same successor, leaving one live refresh token", async () => {
    const service = await boot();
    const { tokens } = await registerUser(service);
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => service.token.refresh({ refresh: tokens.refresh })));
    const refused = results.filter((r) => r.status === "rejected");
    expect(refused).toEqual([]);
    const successors = results.map((r) => jwtPayload((r as PromiseFulfilledResult<{ tokens?: { refresh: string } }>).value.tokens!.refresh));
    const jtis = new Set(successors.map((p) => p.jti));
    expect(jtis.size).toBe(1);
    const [jti] = jtis;
    expect(jti).not.toBe(jwtPayload(tokens.refresh).jti);

    const sid = jwtPayload(tokens.refresh).sid as string;
    expect((await sessionRow(service, sid)).current_refresh_jti).toBe(jti);
    expect(await liveRefreshJtis(service, sid)).toEqual([jti]);
    const rows = await service.app.db.query<{ n: number | string }>("SELECT count(*) AS n FROM outstanding_tokens WHERE session_id = $1", [sid]);
    expect(Number(rows[0]!.n)).toBe(2);
  });

  it("leaves a blacklisted_tokens row for each rotated jti with BLACKLIST_AFTER_ROTATION=true (the default)", async () => {
    const service = await boot();
    const { tokens } = await registerUser(service);
    const next = (await service.token.refresh({ refresh: tokens.refresh })).tokens!;
    await service.token.refresh({ refresh: next.refresh });
    const sid = jwtPayload(tokens.refresh).sid as string;
    expect((await blacklistedOf(service, sid)).sort()).toEqual([jwtPayload(tokens.refresh).jti, jwtPayload(next.refresh).jti].sort());
  });

  it("refuses an access token once its exp has passed (token_expired), on every surface", async () => {
    const service = await boot();
    const { tokens } = await registerUser(service);
    expect(await service.token.verify({ token: tokens.access })).toMatchObject({ valid: true });
    clock.advance(60 * MINUTE + 1_000);
    expect(await service.token.verify({ token: tokens.access })).toMatchObject({ valid: false, reason: "token_expired" });
    expect(await failure(service.auth.getProfile({}, bearer(tokens.access)))).toMatchObject({ code: Code.Unauthenticated, reason: "token_expired" });
    expect(await service.token.introspect({ token: tokens.access })).toMatchObject({ active: false });
    // The refresh token outlives it and brings a new one.
    const next = (await service.token.refresh({ refresh: tokens.refresh })).tokens!;
    expect(await service.token.verify({ token: next.access })).toMatchObject({ valid: true });
  });

  it("records last_login at registration and moves it at each login (UPDATE_LAST_LOGIN, the default)", async () => {
    const service = await boot();
    const { phone, user } = await registerUser(service);
    const joined = Number(user.lastLogin!.seconds);
    expect(Math.abs(joined - clock.now() / 1000)).toBeLessThan(5);
    clock.advance(5 * MINUTE);
    const { user: again } = await loginUser(service, phone);
    expect(Number(again.lastLogin!.seconds) - joined).toBeGreaterThanOrEqual(299);
    expect(again.dateJoined!.seconds).toBe(user.dateJoined!.seconds);
  });

  it("makes every reuse theft with REFRESH_REUSE_INTERVAL=0s, even in the same instant", async () => {
    const service = await boot({ REFRESH_REUSE_INTERVAL: "0s" }, { clock: frozenClock(clock.now()) });
    const { tokens } = await registerUser(service);
    const successor = (await service.token.refresh({ refresh: tokens.refresh })).tokens!;
    expect(await failure(service.token.refresh({ refresh: tokens.refresh }))).toMatchObject({ code: Code.PermissionDenied, reason: "token_blacklisted" });
    expect(await failure(service.token.refresh({ refresh: successor.refresh }))).toMatchObject({ code: Code.PermissionDenied, reason: "session_revoked" });
    expect(await service.token.verify({ token: successor.access })).toMatchObject({ valid: false, reason: "session_revoked" });
  });

  describe("with short lifetimes (SESSION_MAX_LIFETIME=2h, REFRESH_TOKEN_LIFETIME=90m, JWT_LEEWAY=30s)", () => {
    // One configuration for the four tests that do not disturb each other: each
    // start of the embedded database costs a second.
    const short = { SESSION_MAX_LIFETIME: "2h", REFRESH_TOKEN_LIFETIME: "90m", JWT_LEEWAY: "30s" };

    it("caps a session at SESSION_MAX_LIFETIME: access tokens end with it, and refresh then answers session_expired", async () => {
      const service = await boot(short);
      const { tokens } = await registerUser(service);
      const sid = jwtPayload(tokens.refresh).sid as string;
      const sessionEnd = Math.floor(new Date((await sessionRow(service, sid)).expires_at).getTime() / 1000);
      expect(sessionEnd - Math.floor(clock.now() / 1000)).toBeGreaterThanOrEqual(2 * 3600 - 2);
      expect(sessionEnd - Math.floor(clock.now() / 1000)).toBeLessThanOrEqual(2 * 3600);

      clock.advance(80 * MINUTE);
      const late = (await service.token.refresh({ refresh: tokens.refresh })).tokens!;
      // 60m of access lifetime would run past the session's end: the end wins.
      expect(jwtPayload(late.access).exp).toBe(sessionEnd);
      expect(Number(late.accessExpiresAt!.seconds)).toBe(sessionEnd);
      expect(await service.token.verify({ token: late.access })).toMatchObject({ valid: true });

      clock.advance(41 * MINUTE);
      // The refresh token itself is still within its 90m: the session's end refuses it.
      expect(jwtPayload(late.refresh).exp as number).toBeGreaterThan(clock.now() / 1000);
      expect(await failure(service.token.refresh({ refresh: late.refresh }))).toMatchObject({ code: Code.Unauthenticated, reason: "session_expired" });
      expect(await service.token.verify({ token: late.access })).toMatchObject({ valid: false, reason: "token_expired" });
    });

    it("refuses a refresh token past its own exp (token_expired), however young the session", async () => {
      const service = await boot(short);
      const { tokens } = await registerUser(service);
      clock.advance(91 * MINUTE);
      expect(await failure(service.token.refresh({ refresh: tokens.refresh }))).toMatchObject({ code: Code.Unauthenticated, reason: "token_expired" });
    });

    it("tolerates an exp that passed within JWT_LEEWAY, and no more", async () => {
      const service = await boot(short);
      const { tokens } = await registerUser(service);
      clock.advance(60 * MINUTE + 10_000);
      expect(await service.token.verify({ token: tokens.access })).toMatchObject({ valid: true });
      clock.advance(25_000);
      expect(await service.token.verify({ token: tokens.access })).toMatchObject({ valid: false, reason: "token_expired" });
    });
  });

  describe("with the SimpleJWT switches off (ROTATE_REFRESH_TOKENS=false, UPDATE_LAST_LOGIN=false)", () => {
    const off = { ROTATE_REFRESH_TOKENS: "false", UPDATE_LAST_LOGIN: "false" };

    it("returns the presented refresh token unchanged with ROTATE_REFRESH_TOKENS=false", async () => {
      const service = await boot(off);
      const { tokens } = await registerUser(service);
      const first = (await service.token.refresh({ refresh: tokens.refresh })).tokens!;
      expect(first.refresh).toBe(tokens.refresh);
      expect(first.refreshExpiresAt!.seconds).toBe(tokens.refreshExpiresAt!.seconds);
      expect(jwtPayload(first.access).jti).not.toBe(jwtPayload(tokens.access).jti);
      expect(await service.token.verify({ token: first.access })).toMatchObject({ valid: true });
      const second = (await service.token.refresh({ refresh: tokens.refresh })).tokens!;
      expect(second.refresh).toBe(tokens.refresh);

      const sid = jwtPayload(tokens.refresh).sid as string;
      expect(await liveRefreshJtis(service, sid)).toEqual([jwtPayload(tokens.refresh).jti]);
      expect(await blacklistedOf(service, sid)).toEqual([]);
      // Logout still ends it.
      await service.auth.logout({ refresh: tokens.refresh });
      expect(await failure(service.token.refresh({ refresh: tokens.refresh }))).toMatchObject({ code: Code.PermissionDenied });
    });

    it("leaves last_login unset at registration and login with UPDATE_LAST_LOGIN=false", async () => {
      const service = await boot(off);
      const { phone, user } = await registerUser(service);
      expect(user.lastLogin).toBeUndefined();
      const { user: again } = await loginUser(service, phone);
      expect(again.lastLogin).toBeUndefined();
      const rows = await service.app.db.query<{ last_login: Date | null }>("SELECT last_login FROM users WHERE id = $1", [user.id]);
      expect(rows[0]!.last_login).toBeNull();
    });
  });
});
