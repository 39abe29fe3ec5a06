/**
 * The cut-over with the real thing, over /api on real PostgreSQL + Redis: users and
 * refresh tokens made by the Django system (its own migrations, SimpleJWT 5.x
 * signing with its SECRET_KEY, a logout blacklisted through SimpleJWT), moved over
 * by `identity import-django` run as a process, then presented at
 * POST /api/token/refresh/. Every sentence of DESIGN's exchange rules, with the
 * statuses the bridge answers.
 */
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBridgeHarness, type Answer, type BridgeHarness } from "./support/bridge-server.js";
import { djangoSuitesRun, freshDjangoDatabase, type DjangoSystem, type DjangoTokens } from "./support/django.js";
import { identity } from "./support/cli.js";
import { realStoresAvailable } from "./support/services.js";
import { signSimpleJwt } from "./support/simplejwt.js";

describe.runIf(realStoresAvailable() && djangoSuitesRun)("exchanging the Django system's refresh tokens over /api", () => {
  let django: DjangoSystem;
  let bridge: BridgeHarness;
  /** Django ids: an active user, one who logged out there, a deactivated one. */
  let ids: { active: number; loggedOut: number; inactive: number };
  let tokens: { active: DjangoTokens; racing: DjangoTokens; loggedOut: DjangoTokens; inactive: DjangoTokens };
  /** The token of the user who joined the Django system after the import. */
  let lateToken: DjangoTokens;
  let blacklistedJti: string;

  beforeAll(async () => {
    django = await freshDjangoDatabase();
    bridge = await startBridgeHarness({ env: { LEGACY_SIMPLEJWT_SIGNING_KEY: django.signingKey } });
    const [active, loggedOut, inactive] = await django.users([
      { phone: "09121110021", first_name: "Sara", last_name: "Ahmadi" },
      { phone: "09121110022" },
      { phone: "09121110023", is_active: false },
    ]);
    ids = { active: active!, loggedOut: loggedOut!, inactive: inactive! };
    tokens = {
      active: await django.refreshToken(ids.active),
      racing: await django.refreshToken(ids.active),
      loggedOut: await django.refreshToken(ids.loggedOut),
      inactive: await django.refreshToken(ids.inactive),
    };
    blacklistedJti = await django.blacklist(tokens.loggedOut.refresh);

    const imported = await identity({ DATABASE_URL: bridge.config.databaseUrl!, LOG_LEVEL: "silent" }, "import-django", "--source-url", django.url);
    expect(imported).toMatchObject({ status: 0 });

    const [late] = await django.users([{ phone: "09121110024" }]);
    lateToken = await django.refreshToken(late!);
  }, 120_000);

  afterAll(async () => {
    await bridge?.close();
    await django?.drop();
  });

  const refresh = (token: string) => bridge.request("POST", "/api/token/refresh/", { json: { refresh: token } });
  const refusal = (answer: Answer) => ({ status: answer.status, code: answer.body?.data?.code as unknown });

  async function counts() {
    const rows = await bridge.identity.db.query<{ sessions: number; events: number; spent: number }>(
      `SELECT (SELECT count(*) FROM sessions)::int AS sessions, (SELECT count(*) FROM audit_events)::int AS events,
              (SELECT count(*) FROM legacy_spent_tokens)::int AS spent`,
    );
    return rows[0]!;
  }

  async function refusedCreatingNothing(token: string) {
    const before = await counts();
    const answer = await refresh(token);
    expect(await counts()).toEqual(before);
    return refusal(answer);
  }

  it("exchanges a SimpleJWT refresh token (numeric user_id) for a new session whose calls work, audited; the second presentation is 403 token_blacklisted", async () => {
    expect(decodeJwt(tokens.active.refresh).user_id).toBe(ids.active);
    const answer = await refresh(tokens.active.refresh);
    expect(answer.status).toBe(200);
    const pair = answer.body.data as { access: string; refresh: string };
    const dashboard = await bridge.request("GET", "/api/dashboard/", { headers: { authorization: `Bearer ${pair.access}` } });
    expect(dashboard.status).toBe(200);
    expect(dashboard.body.data.user).toMatchObject({ phone: "+989121110021", first_name: "Sara", last_name: "Ahmadi" });

    const userId = decodeJwt(pair.access).sub!;
    const events = await bridge.identity.db.query<{ session_id: string; actor: string; details: unknown }>(
      "SELECT session_id, actor, details FROM audit_events WHERE type = 'legacy.token_exchanged' AND user_id = $1",
      [userId],
    );
    expect(events).toEqual([{ session_id: decodeJwt(pair.access).sid, actor: `user:${userId}`, details: { legacy_id: String(ids.active) } }]);

    expect(await refusedCreatingNothing(tokens.active.refresh)).toEqual({ status: 403, code: "token_blacklisted" });
    // The new session lives on as any other.
    expect((await refresh(pair.refresh)).status).toBe(200);
  });

  it("of fifty parallel presentations of one Django token, one is answered 200 and one session row is made; 49 are 403 token_blacklisted", async () => {
    const before = await counts();
    const answers = await Promise.all(Array.from({ length: 50 }, () => refresh(tokens.racing.refresh)));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(1);
    expect(answers.filter((a) => a.status !== 200).map(refusal)).toEqual(Array(49).fill({ status: 403, code: "token_blacklisted" }));
    expect((await counts()).sessions).toBe(before.sessions + 1);
  });

  it("accepts user_id as a string (newer SimpleJWT), signed with the Django system's key", async () => {
    const claims = decodeJwt(tokens.active.refresh);
    const stringId = await signSimpleJwt({ ...claims, jti: `${claims.jti as string}s`, user_id: String(ids.active) }, django.signingKey);
    expect((await refresh(stringId)).status).toBe(200);
  });

  it("refuses a token SimpleJWT blacklisted (imported by import-django): 403 token_blacklisted", async () => {
    const [row] = await bridge.identity.db.query<{ reason: string }>("SELECT reason FROM legacy_spent_tokens WHERE jti = $1", [blacklistedJti]);
    expect(row).toEqual({ reason: "blacklisted" });
    expect(await refusedCreatingNothing(tokens.loggedOut.refresh)).toEqual({ status: 403, code: "token_blacklisted" });
  });

  it("refuses an inactive user's token (403 account_disabled), a user not imported (401 token_not_valid), a Django access token (401 token_wrong_type), a forged signature (401 token_not_valid)", async () => {
    expect(await refusedCreatingNothing(tokens.inactive.refresh)).toEqual({ status: 403, code: "account_disabled" });
    expect(await refusedCreatingNothing(lateToken.refresh)).toEqual({ status: 401, code: "token_not_valid" });
    expect(await refusedCreatingNothing(tokens.loggedOut.access)).toEqual({ status: 401, code: "token_wrong_type" });
    const forged = await signSimpleJwt(decodeJwt(tokens.inactive.refresh), `${django.signingKey}x`);
    expect(await refusedCreatingNothing(forged)).toEqual({ status: 401, code: "token_not_valid" });
  });

  it("never takes a Django token as a Bearer or at /api/token/verify/ (401 token_not_valid)", async () => {
    const fresh = await django.refreshToken(ids.active);
    for (const token of [fresh.access, fresh.refresh]) {
      const before = await counts();
      expect(refusal(await bridge.request("GET", "/api/dashboard/", { headers: { authorization: `Bearer ${token}` } }))).toEqual({ status: 401, code: "token_not_valid" });
      expect(refusal(await bridge.request("POST", "/api/token/verify/", { json: { token } }))).toEqual({ status: 401, code: "token_not_valid" });
      expect(await counts()).toEqual(before);
    }
  });
});
