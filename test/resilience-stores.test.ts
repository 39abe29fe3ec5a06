/**
 * Stores failing (issue 4): Redis killed or hung, PostgreSQL shut down or crashed
 * mid-load, the SMS webhook hanging, failing or dropping the connection. Every
 * answer is checked on all three public surfaces (raw gRPC, the bridge's Connect
 * protocol, the /api routes): the refusal is UNAVAILABLE / 503 with a generic
 * message, a token is never taken on its signature alone, health and /readyz say
 * so, nothing half-written is left behind, and the service recovers by itself.
 *
 * The suites start and stop stores of their own (a redis-server child, a
 * PostgreSQL child, a local webhook): the shared servers are never stopped.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import pg from "pg";
import { pino } from "pino";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { inProcess, startBridge, type RunningBridge } from "../bridge/index.js";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../gen/grpc/health/v1/health_pb.js";
import { freshStores, startService, type Service, type StartOptions, type Stores } from "./support/grpc-harness.js";
import { expectNoInternals } from "./support/no-internals.js";
import { postgresChild, postgresChildRunnable, type PostgresChild } from "./support/postgres-child.js";
import { freshKeyPrefix, realStoresAvailable, REDIS_URL } from "./support/services.js";
import type { ReceivedSms, SmsInbox } from "./support/sms-inbox.js";
import { everySurface, refusalOf, Refusal, type Pair, type Surface, type SurfaceName } from "./support/surfaces.js";
import { eventually } from "./support/eventually.js";
import { deleteKeysUnder, jwtPayload, redisChild, sharedRedis, type RedisChild, redisKeyPrefixOf } from "./support/tools.js";
import { freshPhone } from "./support/phones.js";

const GENERIC_UNAVAILABLE = "The service is temporarily unavailable. Please try again shortly.";
const GENERIC_SMS = "The SMS could not be sent. Please try again shortly.";
/** The webhook SMS provider's time-out (src/sms/webhook.ts; no variable sets it). */
const SMS_TIMEOUT_MS = 5_000;
const ENGLISH = { "accept-language": "en" };

/** UNAVAILABLE / 503 service_unavailable, the generic sentence, nothing else. */
function expectUnavailable(refusal: Refusal, reason: "service_unavailable" | "sms_unavailable" = "service_unavailable", label?: string): void {
  const text = reason === "service_unavailable" ? GENERIC_UNAVAILABLE : GENERIC_SMS;
  expect({ reason: refusal.reason, text: refusal.text }, label ?? refusal.surface).toEqual({ reason, text });
  if (refusal.surface === "api") {
    expect(refusal.status).toBe(503);
    expect(refusal.body).toEqual({ success: false, message: text, data: { code: reason } });
  } else {
    expect(refusal.status).toBe(Code.Unavailable);
  }
  expectNoInternals(refusal.raw);
}

// ---------------------------------------------------------------------------
// One identity behind its gRPC server and a bridge (/api and Connect).

interface Stack {
  service: Service;
  bridge: RunningBridge;
  surfaces: Surface[];
  /** grpc.health.v1 status of the whole server. */
  health(service?: string): Promise<ServingStatus>;
  /** `any`: the envelope's `data` differs per answer, and tests read each. */
  readyz(): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
}

async function startStack(stores: Stores, options: StartOptions = {}): Promise<Stack> {
  const service = await startService(stores, options);
  const bridge = await startBridge({ config: service.config, log: pino({ level: "silent" }), upstream: inProcess(service.app) });
  const health = createClient(Health, createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.port}` }));
  return {
    service,
    bridge,
    surfaces: everySurface({ grpc: `http://127.0.0.1:${service.port}`, bridge: bridge.url }, { language: "en" }),
    health: async (name = "") => (await health.check({ service: name }, { timeoutMs: 2_000 })).status,
    async readyz() {
      const response = await fetch(`${bridge.url}/readyz`, { headers: ENGLISH });
      return { status: response.status, body: (await response.json()) as any };
    },
    async stop() {
      await bridge.close(500);
      await service.stop();
    },
  };
}

/** Registers through gRPC (codes come from the stack's SMS inbox). */
async function signUp(stack: Stack, phone = freshPhone().e164): Promise<{ phone: string; tokens: Pair }> {
  const grpc = stack.surfaces[0]!;
  await grpc.sendOtp(phone, "register");
  return { phone, tokens: await grpc.register(phone, stack.service.sms.codeFor(phone, "register")) };
}

async function logIn(stack: Stack, surface: Surface, phone: string): Promise<Pair> {
  await surface.sendOtp(phone, "login");
  return surface.login(phone, stack.service.sms.codeFor(phone, "login"));
}

/** Health, /readyz and /healthz all say the stores are not answering (`failing` names which). */
async function expectNotReady(stack: Stack, failing: string): Promise<void> {
  await eventually(() => stack.health(), (status) => status === ServingStatus.NOT_SERVING, { withinMs: 4_000 });
  for (const name of ["identity.v1.AuthService", "identity.v1.TokenService"]) expect(await stack.health(name)).toBe(ServingStatus.NOT_SERVING);
  await eventually(() => stack.readyz(), (ready) => ready.status === 503, { withinMs: 2_000 });
  const ready = await stack.readyz();
  expect(ready.body).toEqual({ success: false, message: GENERIC_UNAVAILABLE, data: { code: "service_unavailable", failing: [failing] } });
  expect((await fetch(`${stack.bridge.url}/healthz`)).status).toBe(200);
}

async function expectReady(stack: Stack, withinMs: number): Promise<void> {
  await eventually(() => stack.health(), (status) => status === ServingStatus.SERVING, { withinMs });
  await eventually(() => stack.readyz(), (ready) => ready.status === 200, { withinMs: 2_000 });
}

/** Every store-backed operation of every surface; each must be refused UNAVAILABLE / 503. */
async function expectEverythingUnavailable(stack: Stack, tokens: Pair, loginCode: { phone: string; code: string }): Promise<void> {
  for (const s of stack.surfaces) {
    const calls: [string, () => Promise<unknown>][] = [
      ["verify", () => s.verify(tokens.access)],
      ["profile", () => s.profile(tokens.access)],
      ["updateProfile", () => s.updateProfile(tokens.access, "Nima")],
      ["sendOtp register", () => s.sendOtp(freshPhone().e164, "register")],
      ["sendOtp login", () => s.sendOtp(loginCode.phone, "login")],
      ["login", () => s.login(loginCode.phone, loginCode.code)],
      ["register", () => s.register(freshPhone().e164, "123456")],
      ["refresh", () => s.refresh(tokens.refresh)],
      ["logout", () => s.logout(tokens.refresh)],
      ["logoutAll", () => s.logoutAll(tokens.access)],
    ];
    if (s.introspect) calls.push(["introspect", () => s.introspect!(tokens.access)]);
    for (const [what, call] of calls) expectUnavailable(await refusalOf(call()), "service_unavailable", `${s.name} ${what}`);
  }
}

// ---------------------------------------------------------------------------

describe.runIf(realStoresAvailable())("when Redis stops answering (a redis-server of this suite's own)", () => {
  let redis: RedisChild;
  let stores: Stores;
  let stack: Stack;
  beforeAll(async () => {
    redis = await redisChild();
    await redis.start();
    stores = await freshStores("real");
    stack = await startStack(stores, { env: { REDIS_URL: redis.url } });
  });
  afterAll(async () => {
    await stack?.stop();
    await redis?.stop();
    await stores?.drop();
  });

  it("refuses every call on every surface (UNAVAILABLE / 503, generic, never valid=true), says so, and recovers by itself on an empty Redis", async () => {
    const [grpc] = stack.surfaces;
    const live = await signUp(stack);
    // Revoked before the outage: one session logged out, one user logged out everywhere.
    const loggedOut = await signUp(stack);
    await grpc!.logout(loggedOut.tokens.refresh);
    const everywhere = await signUp(stack);
    await grpc!.logoutAll(everywhere.tokens.access);
    // A login code sent before the outage, presented during it.
    await grpc!.sendOtp(live.phone, "login");
    const loginCode = { phone: live.phone, code: stack.service.sms.codeFor(live.phone, "login") };
    for (const s of stack.surfaces) expect(await s.verify(live.tokens.access)).toMatchObject({ valid: true, reason: "" });
    expect(await stack.health()).toBe(ServingStatus.SERVING);

    await redis.stop();
    const stoppedAt = Date.now();
    // The very first call after the stop is refused, not answered from a copy (loose
    // bound: one round trip on a busy machine).
    expectUnavailable(await refusalOf(grpc!.verify(live.tokens.access)));
    expect(Date.now() - stoppedAt).toBeLessThan(2_000);
    await expectEverythingUnavailable(stack, live.tokens, loginCode);
    await expectNotReady(stack, "cache");

    // Back, and empty: nothing cached, no codes, no counters.
    await redis.start();
    await expectReady(stack, 5_000);
    for (const s of stack.surfaces) {
      await eventually(() => s.verify(live.tokens.access), (verdict) => verdict.valid, { withinMs: 3_000 });
      expect(await s.profile(live.tokens.access)).toEqual({ id: jwtPayload(live.tokens.access).sub });
      // Revocations made before the outage are rebuilt from PostgreSQL, not forgotten.
      expect(await s.verify(loggedOut.tokens.access)).toMatchObject({ valid: false, reason: "session_revoked" });
      expect(await s.verify(everywhere.tokens.access)).toMatchObject({ valid: false, reason: "session_revoked" });
      expect((await refusalOf(s.refresh(loggedOut.tokens.refresh))).reason).toBe("session_revoked");
      // Codes, logins and refreshes work again, through every surface.
      const pair = await logIn(stack, s, live.phone);
      const next = await s.refresh(pair.refresh);
      expect(await s.verify(next.access)).toMatchObject({ valid: true, reason: "" });
    }
    // A logout now is seen at once by every surface (the empty Redis re-reads PostgreSQL).
    await stack.surfaces[2]!.logout(live.tokens.refresh);
    for (const s of stack.surfaces) expect(await s.verify(live.tokens.access)).toMatchObject({ valid: false, reason: "session_revoked" });
  }, 40_000);

  it("stops saying valid=true within a second when Redis hangs (connected, answering nothing), and recovers when it answers", async () => {
    const live = await signUp(stack);
    for (const s of stack.surfaces) expect((await s.verify(live.tokens.access)).valid).toBe(true);

    // CLIENT PAUSE: the server keeps every connection open and answers no command,
    // the way an overloaded or partitioned Redis looks to its clients.
    const admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    const pauseMs = 7_000;
    let pausedAt: number;
    try {
      await admin.call("CLIENT", "PAUSE", String(pauseMs), "ALL");
      pausedAt = Date.now();
    } finally {
      admin.disconnect();
    }
    // Within the first second an in-process copy may still answer; after it, never.
    await sleep(Math.max(0, pausedAt + 1_100 - Date.now()));
    for (const s of stack.surfaces) {
      const asked = Date.now();
      expectUnavailable(await refusalOf(s.verify(live.tokens.access)));
      // Fail fast: the command time-out (500 ms), not the length of the hang.
      expect(Date.now() - asked).toBeLessThan(2_000);
    }
    expect(Date.now() - pausedAt).toBeLessThan(pauseMs);
    await eventually(() => stack.health(), (status) => status === ServingStatus.NOT_SERVING, { withinMs: pausedAt + pauseMs - Date.now() });

    await expectReady(stack, 6_000);
    for (const s of stack.surfaces) {
      await eventually(() => s.verify(live.tokens.access), (verdict) => verdict.valid, { withinMs: 3_000 });
    }
  }, 30_000);
});

// ---------------------------------------------------------------------------

/** Rows that break an invariant of the session tables (see 001_initial.sql); each query must find none. */
const SESSION_INVARIANTS: Record<string, string> = {
  "every session belongs to a user": `SELECT s.id FROM sessions s LEFT JOIN users u ON u.id = s.user_id WHERE u.id IS NULL`,
  "every session's live refresh token is a row of that session, not rotated": `
    SELECT s.id FROM sessions s LEFT JOIN outstanding_tokens t ON t.jti = s.current_refresh_jti AND t.session_id = s.id
    WHERE t.jti IS NULL OR t.replaced_by IS NOT NULL`,
  "a session has at most one refresh token not rotated": `
    SELECT session_id FROM outstanding_tokens WHERE replaced_by IS NULL GROUP BY session_id HAVING count(*) > 1`,
  "every refresh-token row belongs to an existing session of the same user": `
    SELECT t.jti FROM outstanding_tokens t LEFT JOIN sessions s ON s.id = t.session_id WHERE s.id IS NULL OR s.user_id <> t.user_id`,
  "a rotated token names its successor in the same session, and when": `
    SELECT t.jti FROM outstanding_tokens t LEFT JOIN outstanding_tokens n ON n.jti = t.replaced_by
    WHERE t.replaced_by IS NOT NULL AND (n.jti IS NULL OR n.session_id <> t.session_id OR t.rotated_at IS NULL)`,
  "rotated tokens, and only they, are blacklisted (BLACKLIST_AFTER_ROTATION)": `
    SELECT t.jti FROM outstanding_tokens t LEFT JOIN blacklisted_tokens b ON b.jti = t.jti WHERE (t.replaced_by IS NULL) <> (b.jti IS NULL)`,
  "every blacklisted token is an outstanding one": `
    SELECT b.jti FROM blacklisted_tokens b LEFT JOIN outstanding_tokens t ON t.jti = b.jti WHERE t.jti IS NULL`,
  "a session is revoked with a reason, or not at all": `SELECT id FROM sessions WHERE (revoked_at IS NULL) <> (revoked_reason IS NULL)`,
  "a user with a session has a last login (UPDATE_LAST_LOGIN)": `
    SELECT u.id FROM users u WHERE u.last_login IS NULL AND EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = u.id)`,
};

async function withDatabase<T>(url: string, fn: (db: pg.Client) => Promise<T>): Promise<T> {
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    return await fn(db);
  } finally {
    await db.end();
  }
}

async function expectSessionInvariants(url: string): Promise<void> {
  await withDatabase(url, async (db) => {
    for (const [rule, sql] of Object.entries(SESSION_INVARIANTS)) {
      expect.soft((await db.query(sql)).rows, rule).toEqual([]);
    }
  });
}

describe.runIf(realStoresAvailable() && postgresChildRunnable())("when PostgreSQL stops or crashes (a server of this suite's own)", () => {
  let postgres: PostgresChild;
  let database: { url: string; drop: () => Promise<void> };
  let stack: Stack;
  beforeAll(async () => {
    postgres = await postgresChild();
    await postgres.start();
    database = await postgres.freshDatabase();
    // Redis is the shared one, under a key prefix of this suite's own.
    const stores: Stores = { mode: "real", env: { DATABASE_URL: database.url, REDIS_URL, REDIS_KEY_PREFIX: freshKeyPrefix() }, drop: database.drop };
    stack = await startStack(stores);
  });
  afterAll(async () => {
    await stack?.stop();
    await postgres?.remove();
  });

  it("refuses what needs the database on every surface (UNAVAILABLE / 503, generic), never verifies a token it cannot check, says so, and recovers", async () => {
    const live = await signUp(stack);
    const other = await signUp(stack);
    // Codes sent before the outage and presented during it: right, but the user and
    // session cannot be written, so no token is handed out.
    const grpc = stack.surfaces[0]!;
    await grpc.sendOtp(other.phone, "login");
    const loginCode = stack.service.sms.codeFor(other.phone, "login");
    const newcomers = stack.surfaces.map(() => freshPhone().e164);
    for (const phone of newcomers) await grpc.sendOtp(phone, "register");

    await postgres.stop("fast");
    for (const [i, s] of stack.surfaces.entries()) {
      expectUnavailable(await refusalOf(s.sendOtp(freshPhone().e164, "register")));
      expectUnavailable(await refusalOf(s.sendOtp(live.phone, "login")));
      expectUnavailable(await refusalOf(s.refresh(live.tokens.refresh)));
      expectUnavailable(await refusalOf(s.register(newcomers[i]!, stack.service.sms.codeFor(newcomers[i]!, "register"))));
    }
    expectUnavailable(await refusalOf(stack.surfaces[2]!.login(other.phone, loginCode)));
    // With its cache entries gone, a token can only be checked against PostgreSQL:
    // refused, never valid on its signature.
    const redis = sharedRedis();
    try {
      await deleteKeysUnder(redis, redisKeyPrefixOf(stack.service.config));
    } finally {
      redis.disconnect();
    }
    for (const s of stack.surfaces) {
      expectUnavailable(await refusalOf(s.verify(live.tokens.access)));
      expectUnavailable(await refusalOf(s.profile(live.tokens.access)));
      if (s.introspect) expectUnavailable(await refusalOf(s.introspect(live.tokens.access)));
    }
    await expectNotReady(stack, "database");

    await postgres.start();
    await expectReady(stack, 5_000);
    for (const s of stack.surfaces) {
      expect(await s.verify(live.tokens.access)).toMatchObject({ valid: true, reason: "" });
      const pair = await logIn(stack, s, other.phone);
      expect((await s.verify((await s.refresh(pair.refresh)).access)).valid).toBe(true);
    }
    await expectSessionInvariants(database.url);
  }, 40_000);

  it("keeps a session whose logout PostgreSQL could not record refused for as long as its refresh token lives", async () => {
    const { tokens } = await signUp(stack);
    const { sub, sid, exp } = jwtPayload(tokens.refresh) as { sub: string; sid: string; exp: number };
    await postgres.stop("fast");
    expectUnavailable(await refusalOf(stack.surfaces[0]!.logout(tokens.refresh)));
    // The cache's mark outlives the refresh token, not just the access tokens.
    const redis = sharedRedis();
    try {
      const key = `${redisKeyPrefixOf(stack.service.config)}{u:${sub}}:s:${sid}`;
      expect(await redis.get(key)).toBe("R");
      expect(await redis.pttl(key)).toBeGreaterThan(exp * 1000 - Date.now());
    } finally {
      redis.disconnect();
    }
    await postgres.start();
    await expectReady(stack, 5_000);
    for (const s of stack.surfaces) {
      expect(await s.verify(tokens.access)).toMatchObject({ valid: false, reason: "session_revoked" });
      expect((await refusalOf(s.refresh(tokens.refresh))).reason).toBe("session_revoked");
    }
    // The retry the 503 asked for is recorded.
    await stack.surfaces[0]!.logout(tokens.refresh);
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      expect((await client.query("SELECT revoked_reason FROM sessions WHERE id = $1", [sid])).rows).toEqual([{ revoked_reason: "logout" }]);
    } finally {
      await client.end();
    }
  }, 40_000);

  afterEach(async () => {
    // A failed test must not leave the next one without its database.
    if (!postgres.running) await postgres.start();
  });

  it("under a load of logins, refreshes and logouts, a crash (and restart) answers only UNAVAILABLE / 503, issues no token of an uncommitted session, leaves nothing half-written, and recovers by itself", async () => {
    // Two clients per surface, each a user of its own, logging in, refreshing,
    // verifying and logging out without pause.
    const clients = await Promise.all(
      [0, 1, 2, 3, 4, 5].map(async (i) => ({ surface: stack.surfaces[i % 3]!, phone: (await signUp(stack)).phone })),
    );
    const received = { access: [] as { token: string; sid: string }[], refresh: [] as { jti: string; sid: string }[] };
    /** Sessions logged out with a 200. */
    const loggedOut = new Set<string>();
    /** Sessions whose refresh or logout was refused mid-outage: it may or may not have happened. */
    const uncertain = new Set<string>();
    const outcomes: { surface: SurfaceName; op: string; startedAt: number; endedAt: number; refusal?: Refusal; error?: string }[] = [];
    let stopping = false;

    const remember = (pair: Pair) => {
      const access = jwtPayload(pair.access);
      const refresh = jwtPayload(pair.refresh);
      received.access.push({ token: pair.access, sid: String(access.sid) });
      received.refresh.push({ jti: String(refresh.jti), sid: String(refresh.sid) });
      return { sid: String(refresh.sid), jti: String(refresh.jti), ...pair };
    };
    const attempt = async <T>(surface: SurfaceName, op: string, run: () => Promise<T>): Promise<T | undefined> => {
      const startedAt = Date.now();
      try {
        const value = await run();
        outcomes.push({ surface, op, startedAt, endedAt: Date.now() });
        return value;
      } catch (error) {
        const failed = { surface, op, startedAt, endedAt: Date.now() };
        if (error instanceof Refusal) outcomes.push({ ...failed, refusal: error });
        else outcomes.push({ ...failed, error: String(error) });
        return undefined;
      }
    };
    const client = async ({ surface, phone }: (typeof clients)[number]) => {
      let session: ReturnType<typeof remember> | undefined;
      while (!stopping) {
        let refused: boolean;
        if (session === undefined) {
          const pair = await attempt(surface.name, "login", () => logIn(stack, surface, phone));
          refused = pair === undefined;
          if (pair !== undefined) session = remember(pair);
        } else {
          const held = session;
          const roll = Math.random();
          if (roll < 0.5) {
            const pair = await attempt(surface.name, "refresh", () => surface.refresh(held.refresh));
            refused = pair === undefined;
            if (refused) uncertain.add(held.sid);
            session = pair === undefined ? undefined : remember(pair);
          } else if (roll < 0.7) {
            const done = await attempt(surface.name, "logout", async () => (await surface.logout(held.refresh), true));
            refused = done === undefined;
            (refused ? uncertain : loggedOut).add(held.sid);
            session = undefined;
          } else {
            const answer = await attempt(surface.name, "verify", () => surface.verify(held.access));
            refused = answer === undefined;
            if (answer !== undefined && !answer.valid) outcomes.push({ surface: surface.name, op: "verify", startedAt: 0, endedAt: 0, error: `live session refused: ${answer.reason}` });
          }
        }
        // Like a real client: steady, and backing off a little after a refusal.
        await sleep(refused ? 100 : 15);
      }
      return session;
    };

    const running = clients.map(client);
    const succeededSince = (op: string, since: number) => outcomes.some((o) => o.op === op && o.startedAt >= since && !o.refusal && !o.error);
    try {
      await eventually(async () => succeededSince("refresh", 0) && succeededSince("logout", 0), (yes) => yes, { withinMs: 10_000, stepMs: 50 });
      const crashedAt = Date.now();
      await postgres.stop("immediate");
      // Health and readiness say so while it is down; the load goes on meanwhile.
      await expectNotReady(stack, "database");
      await sleep(Math.max(0, crashedAt + 2_500 - Date.now()));
      await postgres.start();
      const upAt = Date.now();
      // Recovery needs no restart of the service: logins succeed again within seconds.
      await eventually(async () => succeededSince("login", upAt) && succeededSince("refresh", upAt), (yes) => yes, { withinMs: 5_000, stepMs: 50 });
      await expectReady(stack, 3_000);
      const settledAt = Date.now();
      await eventually(async () => succeededSince("login", settledAt + 1_000) && succeededSince("logout", settledAt + 1_000), (yes) => yes, { withinMs: 10_000, stepMs: 50 });
      stopping = true;
      const held = await Promise.all(running);

      // Every failure was an outage refusal, generic, and only around the outage.
      const failures = outcomes.filter((o) => o.refusal || o.error);
      expect(failures.filter((o) => o.error)).toEqual([]);
      expect(failures.length).toBeGreaterThan(0);
      for (const o of failures) {
        expectUnavailable(o.refusal!);
        expect(o.startedAt).toBeGreaterThanOrEqual(crashedAt - 1_000);
        // Once PostgreSQL takes connections again, calls succeed (one in-flight second aside).
        expect(o.startedAt).toBeLessThan(upAt + 1_000);
      }
      expect(outcomes.filter((o) => o.startedAt < crashedAt && o.endedAt < crashedAt).every((o) => !o.refusal)).toBe(true);
      expect(new Set(failures.map((o) => o.surface))).toEqual(new Set(["grpc", "connect", "api"]));

      // Nothing half-written survived the crash.
      await expectSessionInvariants(database.url);
      await withDatabase(database.url, async (db) => {
        const sessions = new Map(
          (await db.query<{ id: string; current: string; revoked: string | null }>(`SELECT id, current_refresh_jti AS current, revoked_reason AS revoked FROM sessions`)).rows.map((r) => [r.id, r]),
        );
        const tokens = new Map(
          (await db.query<{ jti: string; sid: string; rotated: boolean; blacklisted: boolean }>(
            `SELECT t.jti, t.session_id AS sid, t.replaced_by IS NOT NULL AS rotated, b.jti IS NOT NULL AS blacklisted
             FROM outstanding_tokens t LEFT JOIN blacklisted_tokens b ON b.jti = t.jti`,
          )).rows.map((r) => [r.jti, r]),
        );
        // No theft was detected: nobody presented a rotated token.
        expect([...sessions.values()].filter((s) => s.revoked === "reuse_detected")).toEqual([]);
        // Every refresh token handed out belongs to a committed session, and is its
        // live one or was rotated (and blacklisted).
        for (const r of received.refresh) {
          const row = tokens.get(r.jti);
          expect(row?.sid, `refresh token ${r.jti}`).toBe(r.sid);
          expect(sessions.get(r.sid)!.current === r.jti || (row!.rotated && row!.blacklisted), `refresh token ${r.jti}`).toBe(true);
        }
        // Every session logged out with a 200 is revoked; every session a client still
        // holds is live, on the refresh token the client holds.
        for (const sid of loggedOut) expect(sessions.get(sid)?.revoked, `session ${sid}`).toBe("logout");
        for (const h of held) {
          if (h === undefined) continue;
          expect(sessions.get(h.sid), `held session ${h.sid}`).toMatchObject({ current: h.jti, revoked: null });
        }
        // Every access token handed out belongs to a committed session, and verifies
        // exactly when that session is live (a refused logout may have revoked it in the
        // cache already: then it is refused as revoked, never the other way round).
        const grpc = stack.surfaces[0]!;
        for (let i = 0; i < received.access.length; i += 25) {
          await Promise.all(
            received.access.slice(i, i + 25).map(async ({ token, sid }) => {
              const session = sessions.get(sid);
              expect(session, `session ${sid}`).toBeDefined();
              const answer = await grpc.verify(token);
              if (session!.revoked !== null) expect(answer, `session ${sid}`).toMatchObject({ valid: false, reason: "session_revoked" });
              else if (uncertain.has(sid)) expect([true, "session_revoked"]).toContain(answer.valid || answer.reason);
              else expect(answer, `session ${sid}`).toMatchObject({ valid: true, reason: "" });
            }),
          );
        }
      });
    } finally {
      stopping = true;
      await Promise.allSettled(running);
    }
    await expectReady(stack, 2_000);
  }, 60_000);
});

// ---------------------------------------------------------------------------

type GatewayMode = "ok" | "hang" | "500" | "drop";

/**
 * An SMS gateway (the webhook provider's target) that can hang, fail or drop the
 * connection. It records every message it was sent, failed ones included, so a test
 * can try the code of a send that failed.
 */
async function startSmsGateway(): Promise<SmsInbox & { mode: GatewayMode; attempts: ReceivedSms[] }> {
  const received: ReceivedSms[] = [];
  const attempts: ReceivedSms[] = [];
  const state = { mode: "ok" as GatewayMode };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const sms = JSON.parse(Buffer.concat(chunks).toString("utf8")) as ReceivedSms;
      attempts.push(sms);
      switch (state.mode) {
        case "ok":
          received.push(sms);
          return void res.writeHead(200).end();
        case "500":
          return void res.writeHead(500).end("gateway exploded at 10.1.2.3:8443");
        case "drop":
          return void req.socket.destroy();
        case "hang":
          return; // never answers
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/sms`,
    received,
    attempts,
    get mode() {
      return state.mode;
    },
    set mode(next: GatewayMode) {
      state.mode = next;
    },
    codeFor(phone, purpose) {
      const sms = received.findLast((s) => s.to === phone && (purpose === undefined || s.purpose === purpose));
      if (sms === undefined) throw new Error(`no SMS was sent to ${phone}`);
      return sms.code;
    },
    failWith(status) {
      state.mode = status === 200 ? "ok" : "500";
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe.runIf(realStoresAvailable())("when the SMS webhook hangs, fails or drops the connection", () => {
  let gateway: Awaited<ReturnType<typeof startSmsGateway>>;
  let stores: Stores;
  let stack: Stack;
  beforeAll(async () => {
    gateway = await startSmsGateway();
    stores = await freshStores("real");
    stack = await startStack(stores, { sms: gateway });
  });
  afterAll(async () => {
    await stack?.stop();
    await gateway?.close();
    await stores?.drop();
  });

  /** The code of the last send to `phone` that reached the gateway, failed or not. */
  const attempted = (phone: string) => gateway.attempts.findLast((s) => s.to === phone)!.code;

  it("answers send-otp on every surface with UNAVAILABLE / 503 sms_unavailable within the time-out when the gateway never answers, keeps serving meanwhile, and leaves the code unusable", async () => {
    const { tokens } = await signUp(stack);
    gateway.mode = "hang";
    try {
      const phones = stack.surfaces.map(() => freshPhone().e164);
      const started = Date.now();
      const sends = stack.surfaces.map((s, i) => refusalOf(s.sendOtp(phones[i]!, "register")).then((r) => ({ r, ms: Date.now() - started })));
      // A hanging gateway holds up only the sends waiting for it.
      for (const s of stack.surfaces) expect(await s.verify(tokens.access)).toMatchObject({ valid: true, reason: "" });
      for (const { r, ms } of await Promise.all(sends)) {
        expectUnavailable(r, "sms_unavailable");
        expect(ms).toBeLessThan(SMS_TIMEOUT_MS + 3_000);
      }
      gateway.mode = "ok";
      // The gateway got each code (it may even have delivered it): none of them works.
      for (const [i, s] of stack.surfaces.entries()) {
        expect((await refusalOf(s.register(phones[i]!, attempted(phones[i]!)))).reason).toBe("otp_expired");
      }
    } finally {
      gateway.mode = "ok";
    }
  }, 30_000);

  it.each(["500", "drop"] as const)("answers send-otp on every surface with sms_unavailable at once when the gateway answers %s, and leaves the code it got unusable", async (mode) => {
    const { phone } = await signUp(stack);
    for (const s of stack.surfaces) {
      gateway.mode = mode;
      const started = Date.now();
      try {
        expectUnavailable(await refusalOf(s.sendOtp(phone, "login")), "sms_unavailable");
      } finally {
        gateway.mode = "ok";
      }
      expect(Date.now() - started).toBeLessThan(2_000);
      expect((await refusalOf(s.login(phone, attempted(phone)))).reason).toBe("otp_expired");
    }
    // The gateway working again, the next code works.
    const pair = await logIn(stack, stack.surfaces[2]!, phone);
    expect((await stack.surfaces[0]!.verify(pair.access)).valid).toBe(true);
  });
});
