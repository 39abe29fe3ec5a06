/**
 * Logins gathered into one statement (issue 16): on real PostgreSQL and Redis,
 * through gRPC and /api. Batches are made to form the way they do under load: the
 * batches the store may have in flight are held up on users rows this test locks,
 * and the logins that arrive meanwhile queue and then run as one statement, which
 * PostgreSQL shows (their rows share one transaction id, xmin).
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { Code } from "@connectrpc/connect";
import pg from "pg";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inProcess, startBridge, type RunningBridge } from "../bridge/index.js";
import { LOGIN_BATCHING } from "../src/store/postgres/sessions.js";
import { eventually } from "./support/eventually.js";
import { freshStores, startService, type Service, type Stores } from "./support/grpc-harness.js";
import { expectNoInternals } from "./support/no-internals.js";
import { freshPhone } from "./support/phones.js";
import { realStoresAvailable } from "./support/services.js";
import { apiSurface, grpcSurface, refusalOf, type Pair, type Surface } from "./support/surfaces.js";
import { jwtPayload, sharedRedis } from "./support/tools.js";

const { maxBatch, maxInFlight } = LOGIN_BATCHING.postgres;

describe.runIf(realStoresAvailable())("logins gathered into one statement (real PostgreSQL and Redis)", () => {
  let stores: Stores;
  let service: Service;
  let bridge: RunningBridge;
  let grpc: Surface;
  let api: Surface;
  let db: pg.Client;
  const redis = sharedRedis();

  beforeAll(async () => {
    stores = await freshStores("real");
    // Every number gets a code and no user is read before the code is checked, so
    // disabled and unknown numbers reach the store's login too, in the same batch.
    service = await startService(stores, { env: { ENUMERATION_PROTECTION: "true" } });
    bridge = await startBridge({ config: service.config, log: pino({ level: "silent" }), upstream: inProcess(service.app) });
    grpc = grpcSurface(`http://127.0.0.1:${service.port}`);
    api = apiSurface(bridge.url);
    db = new pg.Client({ connectionString: stores.env.DATABASE_URL });
    await db.connect();
  });
  afterAll(async () => {
    await db?.end();
    await bridge?.close(500);
    await service?.stop();
    await stores?.drop();
    redis.disconnect();
  });

  /** Users with fresh phones, straight into the table (active, never logged in). */
  async function users(count: number): Promise<{ id: string; phone: string }[]> {
    const made = Array.from({ length: count }, () => ({ id: randomUUID(), phone: freshPhone().e164 }));
    await db.query(`INSERT INTO users (id, phone, date_joined) SELECT * , now() FROM unnest($1::uuid[], $2::text[])`, [made.map((u) => u.id), made.map((u) => u.phone)]);
    return made;
  }

  /** Sends each phone a login code (a few at a time: the SMS webhook is a fixture,
   * not what is tested) and returns it. */
  async function codes(phones: readonly string[]): Promise<Map<string, string>> {
    const queue = [...phones];
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let phone = queue.pop(); phone !== undefined; phone = queue.pop()) await grpc.sendOtp(phone, "login");
      }),
    );
    return new Map(phones.map((phone) => [phone, service.sms.codeFor(phone, "login")]));
  }

  /**
   * Fills every batch the store may have in flight with a login held up on a users
   * row this test has locked, so the logins that come next queue. `release` lets
   * the held batches finish (the queued logins then start together).
   */
  async function holdBatches(): Promise<{ release(): Promise<void> }> {
    const blockers = await users(maxInFlight);
    const sent = await codes(blockers.map((b) => b.phone));
    const holder = new pg.Client({ connectionString: stores.env.DATABASE_URL });
    await holder.connect();
    await holder.query("BEGIN");
    await holder.query("SELECT id FROM users WHERE phone = ANY($1) FOR UPDATE", [blockers.map((b) => b.phone)]);
    const held = blockers.map((b) => grpc.login(b.phone, sent.get(b.phone)!));
    await eventually(() => waitingOnLocks(), (n) => n === maxInFlight);
    return {
      async release() {
        await holder.query("COMMIT");
        await holder.end();
        await Promise.all(held);
      },
    };
  }

  /** How many statements of the service wait on a row lock. */
  async function waitingOnLocks(): Promise<number> {
    const { rows } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'identity-service' AND wait_event_type = 'Lock'`,
    );
    return rows[0]!.n;
  }

  /** Waits until the code of every phone has been taken (checked and consumed): from
   * there a login goes straight on to the store, where it queues. */
  async function codesTaken(phones: readonly string[]): Promise<void> {
    const prefix = stores.env.REDIS_KEY_PREFIX!;
    await eventually(async () => (await Promise.all(phones.map((p) => redis.exists(`${prefix}{p:${p}}:otp:login`)))).every((n) => n === 0), Boolean);
    await sleep(100);
  }

  /** The transaction (xmin) that wrote each session of these users. */
  async function writtenBy(userIds: readonly string[]): Promise<Map<string, string>> {
    const { rows } = await db.query<{ user_id: string; tx: string }>(`SELECT user_id, xmin::text AS tx FROM sessions WHERE user_id = ANY($1::uuid[])`, [userIds]);
    return new Map(rows.map((r) => [r.user_id, r.tx]));
  }

  /** What a login left in PostgreSQL about its user: sessions, their tokens, login events. */
  async function traceOf(userId: string) {
    const sessions = await db.query<{ id: string; created_at: Date; last_used_at: Date; current_refresh_jti: string; ip: string; user_agent: string | null }>(
      "SELECT id, created_at, last_used_at, current_refresh_jti, ip, user_agent FROM sessions WHERE user_id = $1",
      [userId],
    );
    const tokens = await db.query<{ jti: string; session_id: string; created_at: Date }>("SELECT jti, session_id, created_at FROM outstanding_tokens WHERE user_id = $1", [userId]);
    const events = await db.query<{ type: string; session_id: string | null; actor: string; ip: string | null; at: Date; details: unknown }>(
      "SELECT type, session_id, actor, ip, at, details FROM audit_events WHERE user_id = $1 AND type <> 'otp.sent'",
      [userId],
    );
    const user = await db.query<{ last_login: Date | null }>("SELECT last_login FROM users WHERE id = $1", [userId]);
    return { sessions: sessions.rows, tokens: tokens.rows, events: events.rows, lastLogin: user.rows[0]?.last_login ?? null };
  }

  /** A started login as PostgreSQL must hold it: one session, its token, its one
   * user.logged_in event (at the login's instant, by the user, from its client),
   * last_login at that instant; the session starts at `startsAt`. `before`: the
   * other events the user has (refused codes). */
  async function expectStarted(userId: string, pair: Pair, startsAt?: Date, before: string[] = []): Promise<void> {
    const access = jwtPayload(pair.access);
    const refresh = jwtPayload(pair.refresh);
    expect(access.sub).toBe(userId);
    const at = new Date(Number(refresh.iat) * 1000);
    const trace = await traceOf(userId);
    expect(trace.sessions).toHaveLength(1);
    const [session] = trace.sessions;
    expect(session).toMatchObject({ id: access.sid, current_refresh_jti: refresh.jti, ip: "127.0.0.1" });
    const logins = trace.events.filter((e) => e.type === "user.logged_in");
    // iat is in whole seconds; the instant itself in milliseconds.
    const instant = logins[0]?.at;
    expect(instant).toBeInstanceOf(Date);
    expect(Math.floor(instant!.getTime() / 1000) * 1000).toBe(at.getTime());
    expect(session!.created_at).toEqual(startsAt ?? instant);
    expect(session!.last_used_at).toEqual(startsAt ?? instant);
    expect(trace.tokens).toEqual([{ jti: refresh.jti, session_id: access.sid, created_at: instant }]);
    expect(logins).toEqual([{ type: "user.logged_in", session_id: access.sid, actor: `user:${userId}`, ip: "127.0.0.1", at: instant, details: {} }]);
    expect(trace.lastLogin).toEqual(instant);
    expect(trace.events.filter((e) => e.type !== "user.logged_in").map((e) => e.type)).toEqual(before);
  }

  async function expectNothingStarted(userId: string): Promise<void> {
    expect(await traceOf(userId)).toMatchObject({ sessions: [], tokens: [], events: [], lastLogin: null });
  }

  /**
   * Active users (through gRPC and /api), a user deactivated after the code was sent,
   * an unknown number, and a user whose logout-all was recorded by an instance whose
   * clock is ahead of this one: each gets what a login alone gets.
   */
  async function mixedLogins(together: boolean): Promise<void> {
    const [a, b, c, disabled, ahead] = await users(5);
    const unknown = freshPhone().e164;
    const all = [a!, b!, c!, disabled!, ahead!];
    const sent = await codes([...all.map((u) => u.phone), unknown]);
    await db.query("UPDATE users SET is_active = false WHERE id = $1", [disabled!.id]);
    const { rows } = await db.query<{ at: Date }>("UPDATE users SET sessions_revoked_before = now() + interval '1 minute' WHERE id = $1 RETURNING sessions_revoked_before AS at", [ahead!.id]);
    const logoutAll = rows[0]!.at;

    const calls: [Surface, string][] = [
      [grpc, a!.phone],
      [api, b!.phone],
      [grpc, c!.phone],
      [grpc, disabled!.phone],
      [api, unknown],
      [grpc, ahead!.phone],
    ];
    const run = (surface: Surface, phone: string) => surface.login(phone, sent.get(phone)!).then((pair) => ({ pair }), (refusal: unknown) => ({ refusal }));
    let answers: Awaited<ReturnType<typeof run>>[];
    if (together) {
      const held = await holdBatches();
      const pending = calls.map(([surface, phone]) => run(surface, phone));
      await codesTaken(calls.map(([, phone]) => phone));
      await held.release();
      answers = await Promise.all(pending);
    } else {
      answers = [];
      for (const [surface, phone] of calls) answers.push(await run(surface, phone));
    }
    const [ra, rb, rc, rDisabled, rUnknown, rAhead] = answers;
    for (const [answer, user] of [[ra, a], [rb, b], [rc, c]] as const) {
      expect(answer).toHaveProperty("pair");
      await expectStarted(user!.id, (answer as { pair: Pair }).pair);
    }
    expect(rAhead).toHaveProperty("pair");
    // The session starts just after the logout-all, not at this instance's earlier instant.
    await expectStarted(ahead!.id, (rAhead as { pair: Pair }).pair, new Date(logoutAll.getTime() + 1));
    expect(await grpc.verify((rAhead as { pair: Pair }).pair.access)).toMatchObject({ valid: true });

    const disabledRefusal = (rDisabled as { refusal: unknown }).refusal;
    expect(disabledRefusal).toMatchObject({ surface: "grpc", reason: "account_disabled", status: Code.PermissionDenied });
    const unknownRefusal = (rUnknown as { refusal: unknown }).refusal;
    expect(unknownRefusal).toMatchObject({ surface: "api", reason: "phone_not_registered", status: 400 });
    await expectNothingStarted(disabled!.id);
    // Nothing about a number no user has but its code's otp.sent.
    const { rows: aboutNoOne } = await db.query("SELECT type FROM audit_events WHERE user_id IS NULL AND type <> 'otp.sent'");
    expect(aboutNoOne).toEqual([]);

    const tx = await writtenBy([a!.id, b!.id, c!.id, ahead!.id]);
    // Together: one statement wrote them all. Alone: one statement each.
    expect(new Set(tx.values()).size).toBe(together ? 1 : 4);
  }

  it("answers each login of one batch (active, deactivated, unknown, after a logout-all ahead of this clock) as it answers that login alone", async () => {
    await mixedLogins(false);
    await mixedLogins(true);
  });

  it("refuses every login of a batch PostgreSQL fails mid-statement with UNAVAILABLE / 503, writes none of it, and spends the codes as any store failure does", async () => {
    const batch = await users(6);
    const sent = await codes(batch.map((u) => u.phone));
    const held = await holdBatches();
    // The batch will wait on one of its rows, where the test ends its connection.
    const locker = new pg.Client({ connectionString: stores.env.DATABASE_URL });
    await locker.connect();
    await locker.query("BEGIN");
    await locker.query("SELECT id FROM users WHERE id = $1 FOR UPDATE", [batch[0]!.id]);
    const surfaces = batch.map((_, i) => (i % 2 === 0 ? grpc : api));
    const pending = batch.map((u, i) => refusalOf(surfaces[i]!.login(u.phone, sent.get(u.phone)!)));
    await codesTaken(batch.map((u) => u.phone));
    await held.release();
    await eventually(() => waitingOnLocks(), (n) => n === 1);
    await db.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'identity-service' AND wait_event_type = 'Lock'`,
    );
    const refusals = await Promise.all(pending);
    await locker.query("ROLLBACK");
    await locker.end();

    for (const refusal of refusals) {
      expect(refusal.reason).toBe("service_unavailable");
      expect(refusal.status).toBe(refusal.surface === "api" ? 503 : Code.Unavailable);
      expectNoInternals(refusal.raw);
    }
    expect(refusals.map((r) => r.surface)).toEqual(surfaces.map((s) => s.name));
    for (const u of batch) await expectNothingStarted(u.id);
    // The code was taken before the store was asked (as for any login the store
    // fails): it does not work again; a new code does.
    const again = await refusalOf(grpc.login(batch[1]!.phone, sent.get(batch[1]!.phone)!));
    expect(again.reason).toBe("otp_expired");
    const fresh = await codes([batch[1]!.phone]);
    await expectStarted(batch[1]!.id, await grpc.login(batch[1]!.phone, fresh.get(batch[1]!.phone)!), undefined, ["user.login_failed"]);
  });

  it(`carries at most ${maxBatch} logins in one statement`, async () => {
    const many = await users(maxBatch + 36);
    const sent = await codes(many.map((u) => u.phone));
    const held = await holdBatches();
    const pending = many.map((u) => grpc.login(u.phone, sent.get(u.phone)!));
    await codesTaken(many.map((u) => u.phone));
    await held.release();
    await Promise.all(pending);
    const perTx = new Map<string, number>();
    for (const tx of (await writtenBy(many.map((u) => u.id))).values()) perTx.set(tx, (perTx.get(tx) ?? 0) + 1);
    expect([...perTx.values()].sort((x, y) => y - x)).toEqual([maxBatch, 36]);
  });

  it("under many concurrent logins, leaves every session with its refresh token and its one login event", async () => {
    const many = await users(400);
    const sent = await codes(many.map((u) => u.phone));
    const queue = [...many];
    const started: { userId: string; pair: Pair }[] = [];
    await Promise.all(
      Array.from({ length: 64 }, async (_, worker) => {
        for (let u = queue.pop(); u !== undefined; u = queue.pop()) {
          started.push({ userId: u.id, pair: await (worker % 4 === 0 ? api : grpc).login(u.phone, sent.get(u.phone)!) });
        }
      }),
    );
    expect(started).toHaveLength(many.length);
    const ids = many.map((u) => u.id);
    const { rows } = await db.query<{ sessions: number; with_token: number; with_one_event: number; batches: number }>(
      `SELECT count(*)::int AS sessions,
              count(*) FILTER (WHERE EXISTS (SELECT 1 FROM outstanding_tokens t WHERE t.jti = s.current_refresh_jti AND t.session_id = s.id))::int AS with_token,
              count(*) FILTER (WHERE (SELECT count(*) FROM audit_events e WHERE e.session_id = s.id AND e.type = 'user.logged_in') = 1)::int AS with_one_event,
              count(DISTINCT s.xmin::text)::int AS batches
       FROM sessions s WHERE s.user_id = ANY($1::uuid[])`,
      [ids],
    );
    expect(rows[0]).toMatchObject({ sessions: many.length, with_token: many.length, with_one_event: many.length });
    // Each answer names its own session.
    const { rows: owners } = await db.query<{ id: string; user_id: string }>("SELECT id, user_id FROM sessions WHERE user_id = ANY($1::uuid[])", [ids]);
    const ownerOf = new Map(owners.map((o) => [o.id, o.user_id]));
    for (const { userId, pair } of started) expect(ownerOf.get(jwtPayload(pair.access).sid as string)).toBe(userId);
  });
});
