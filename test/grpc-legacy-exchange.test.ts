/**
 * DESIGN "Moving over from the Django system" through a real gRPC client on real
 * PostgreSQL + Redis: a Django refresh token is exchanged at Refresh exactly once
 * (races included) for a new session, audited; every refusal with its reason and
 * nothing created; Verify, Introspect and a Bearer never accept one. Tokens here are
 * signed with jose in SimpleJWT's shape (test/grpc-django-exchange.test.ts has the
 * real thing).
 */
import { Code } from "@connectrpc/connect";
import { afterAll, describe, expect, it } from "vitest";
import { bearer, failure, registerUser, type Service } from "./support/grpc-harness.js";
import { LEGACY_SIGNING_KEY, simpleJwt, type SimpleJwtClaims } from "./support/simplejwt.js";
import { jwtPayload, lab } from "./support/tools.js";

const SERVICE_KEY = "billing:billing-key-0123456789";
const LEGACY = { LEGACY_SIMPLEJWT_SIGNING_KEY: LEGACY_SIGNING_KEY, SERVICE_API_KEYS: SERVICE_KEY };
const nowS = () => Math.floor(Date.now() / 1000);

describe("exchanging Django refresh tokens over gRPC (real stores)", () => {
  const stores = lab("real");
  afterAll(() => stores.close());
  let nextLegacyId = 1000;

  /** A registered user marked as imported from Django (the SQL import-django leaves behind). */
  async function imported(service: Service): Promise<{ userId: string; legacyId: number }> {
    const { user } = await registerUser(service);
    const legacyId = (nextLegacyId += 1);
    await service.app.db.query("UPDATE users SET legacy_id = $2 WHERE id = $1", [user.id, legacyId]);
    return { userId: user.id, legacyId };
  }

  const djangoToken = (claims: Partial<SimpleJwtClaims> & Pick<SimpleJwtClaims, "userId">, key?: string) =>
    simpleJwt({ iat: nowS() - 60, exp: nowS() + 86_400, ...claims }, key);

  async function counts(service: Service) {
    const rows = await service.app.db.query<{ sessions: number; spent: number; events: number }>(
      `SELECT (SELECT count(*) FROM sessions)::int AS sessions, (SELECT count(*) FROM legacy_spent_tokens)::int AS spent,
              (SELECT count(*) FROM audit_events)::int AS events`,
    );
    return rows[0]!;
  }

  /** The refusal of `token` at Refresh, after checking it created nothing. */
  async function refusedCreatingNothing(service: Service, token: string) {
    const before = await counts(service);
    const refused = await failure(service.token.refresh({ refresh: token }));
    expect(await counts(service)).toEqual(before);
    return { code: refused.code, reason: refused.reason };
  }

  it("exchanges a token once for the pair of a new session, spent and audited in its transaction; the second presentation is token_blacklisted", async () => {
    const service = await stores.service(LEGACY);
    const { userId, legacyId } = await imported(service);
    const token = await djangoToken({ userId: legacyId, jti: "f3a9c2d1e0b84a7f9c6d5e4b3a2f1e0d" });

    const pair = (await service.token.refresh({ refresh: token })).tokens!;
    const sid = jwtPayload(pair.access).sid as string;
    expect(jwtPayload(pair.refresh)).toMatchObject({ token_type: "refresh", sub: userId, sid });
    expect(await service.token.verify({ token: pair.access })).toMatchObject({ valid: true, user: { id: userId } });
    expect((await service.auth.getProfile({}, bearer(pair.access))).user?.id).toBe(userId);

    const [spent] = await service.app.db.query<{ reason: string; expires_at: Date }>("SELECT reason, expires_at FROM legacy_spent_tokens WHERE jti = $1", ["f3a9c2d1e0b84a7f9c6d5e4b3a2f1e0d"]);
    expect(spent).toEqual({ reason: "exchanged", expires_at: new Date(jwtPayload(token).exp as number * 1000) });
    const events = await service.app.db.query<{ user_id: string; session_id: string; actor: string; ip: string; details: unknown }>(
      "SELECT user_id, session_id, actor, ip, details FROM audit_events WHERE type = 'legacy.token_exchanged' AND user_id = $1",
      [userId],
    );
    expect(events).toEqual([{ user_id: userId, session_id: sid, actor: `user:${userId}`, ip: "127.0.0.1", details: { legacy_id: String(legacyId) } }]);

    expect(await refusedCreatingNothing(service, token)).toEqual({ code: Code.PermissionDenied, reason: "token_blacklisted" });
    // The new session refreshes as any other.
    expect((await service.token.refresh({ refresh: pair.refresh })).tokens?.refresh).toBeTruthy();
  });

  it("of fifty parallel presentations of one token, one gets a session (one new row) and 49 token_blacklisted", async () => {
    const service = await stores.service(LEGACY);
    const { userId, legacyId } = await imported(service);
    const token = await djangoToken({ userId: legacyId });
    const sessionsOf = async () => (await service.app.db.query<{ n: number }>("SELECT count(*)::int AS n FROM sessions WHERE user_id = $1", [userId]))[0]!.n;
    const before = await sessionsOf();

    const outcomes = await Promise.all(Array.from({ length: 50 }, () => service.token.refresh({ refresh: token }).then(() => "ok", async (error: unknown) => (await failure(Promise.reject(error))).reason)));
    expect(outcomes.filter((o) => o === "ok")).toHaveLength(1);
    expect(outcomes.filter((o) => o === "token_blacklisted")).toHaveLength(49);
    expect(await sessionsOf()).toBe(before + 1);
    const events = await service.app.db.query("SELECT 1 FROM audit_events WHERE type = 'legacy.token_exchanged' AND user_id = $1", [userId]);
    expect(events).toHaveLength(1);
  });

  it("accepts user_id as a string (newer SimpleJWT)", async () => {
    const service = await stores.service(LEGACY);
    const { userId, legacyId } = await imported(service);
    const pair = (await service.token.refresh({ refresh: await djangoToken({ userId: String(legacyId) }) })).tokens!;
    expect(jwtPayload(pair.access).sub).toBe(userId);
  });

  it("refuses each kind of bad legacy token with DESIGN's reason, creating nothing", async () => {
    const service = await stores.service(LEGACY);
    const { userId, legacyId } = await imported(service);
    const blacklistedJti = "0123456789abcdef0123456789abcdef";
    await service.app.db.query("INSERT INTO legacy_spent_tokens (jti, reason, spent_at) VALUES ($1, 'blacklisted', now())", [blacklistedJti]);
    const unauthenticated = (reason: string) => ({ code: Code.Unauthenticated, reason });
    const denied = (reason: string) => ({ code: Code.PermissionDenied, reason });

    expect(await refusedCreatingNothing(service, await djangoToken({ userId: legacyId }, `${LEGACY_SIGNING_KEY}!`))).toEqual(unauthenticated("token_not_valid"));
    expect(await refusedCreatingNothing(service, await djangoToken({ userId: legacyId, iat: nowS() - 7200, exp: nowS() - 1 }))).toEqual(unauthenticated("token_expired"));
    expect(await refusedCreatingNothing(service, await djangoToken({ userId: legacyId, tokenType: "access" }))).toMatchObject({ reason: "token_wrong_type" });
    expect(await refusedCreatingNothing(service, await djangoToken({ userId: legacyId, jti: blacklistedJti }))).toEqual(denied("token_blacklisted"));
    expect(await refusedCreatingNothing(service, await djangoToken({ userId: 987_654_321 }))).toEqual(unauthenticated("token_not_valid"));

    await service.app.db.query("UPDATE users SET is_active = false WHERE id = $1", [userId]);
    expect(await refusedCreatingNothing(service, await djangoToken({ userId: legacyId }))).toEqual(denied("account_disabled"));
  });

  it("after LEGACY_SIMPLEJWT_UNTIL, and without the key, a legacy token is token_not_valid", async () => {
    const past = await stores.service({ ...LEGACY, LEGACY_SIMPLEJWT_UNTIL: new Date(Date.now() - 1000).toISOString() });
    const { legacyId } = await imported(past);
    const token = await djangoToken({ userId: legacyId });
    expect(await refusedCreatingNothing(past, token)).toEqual({ code: Code.Unauthenticated, reason: "token_not_valid" });

    const keyless = await stores.service({ SERVICE_API_KEYS: SERVICE_KEY });
    expect(await refusedCreatingNothing(keyless, token)).toEqual({ code: Code.Unauthenticated, reason: "token_not_valid" });

    const future = await stores.service({ ...LEGACY, LEGACY_SIMPLEJWT_UNTIL: new Date(Date.now() + 3_600_000).toISOString() });
    expect((await future.token.refresh({ refresh: token })).tokens?.access).toBeTruthy();
  });

  it("Verify, Introspect and a Bearer refuse legacy access and refresh tokens (token_not_valid), spending nothing", async () => {
    const service = await stores.service(LEGACY);
    const { legacyId } = await imported(service);
    for (const tokenType of ["access", "refresh"] as const) {
      const token = await djangoToken({ userId: legacyId, tokenType });
      const before = await counts(service);
      expect(await service.token.verify({ token })).toMatchObject({ valid: false, reason: "token_not_valid" });
      const introspected = await service.token.introspect({ token, tokenTypeHint: "refresh_token" }, { headers: { "x-api-key": "billing-key-0123456789" } });
      expect(introspected.active).toBe(false);
      expect(await failure(service.auth.getProfile({}, bearer(token)))).toMatchObject({ code: Code.Unauthenticated, reason: "token_not_valid" });
      expect(await counts(service)).toEqual(before);
    }
  });
});
