/**
 * `npm run flush-expired` on a table of a quarter million rows: every expired row
 * (and every audit event older than AUDIT_RETENTION, 180 days) goes, every live row stays, the work is done in bounded batches (each statement
 * deletes at most a batch of each table, the FK cascade included), rows locked by
 * someone else are skipped rather than waited for, and the service keeps rotating
 * refresh tokens meanwhile without waiting on the flush.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshStores, registerUser, startService, type Service, type Stores } from "./support/grpc-harness.js";
import { realStoresAvailable } from "./support/services.js";
import { jwtPayload } from "./support/tools.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BATCH = 5000;

/** Seeded row counts (plus what the service itself writes). */
const USERS = 1000;
const EXPIRED_SESSIONS = 60_000; // each: an expired, blacklisted token and one that outlived the session
const LONG_CHAINS = 10; // expired sessions with 1000 tokens each, all outliving the session
const CHAIN = 1000;
const LIVE_SESSIONS = 2000; // each: an expired rotated-out token and its live successor
const OLD_EVENTS = 12_000; // audit events older than the retention
const KEPT_EVENTS = 3000; // a day younger than it

interface CliRun {
  code: number | null;
  log: Record<string, unknown>[];
  stderr: string;
}

/** `identity flush-expired` (what `npm run flush-expired` runs) with only DATABASE_URL. */
function flushExpired(databaseUrl: string): Promise<CliRun> {
  const child = spawn(process.execPath, ["bin/identity.mjs", "flush-expired"], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", DATABASE_URL: databaseUrl, LOG_LEVEL: "debug" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) =>
    child.once("exit", (code) =>
      resolve({
        code,
        stderr,
        log: stdout
          .split("\n")
          .filter((line) => line.startsWith("{"))
          .map((line) => JSON.parse(line) as Record<string, unknown>),
      }),
    ),
  );
}

describe.runIf(realStoresAvailable())("npm run flush-expired", () => {
  let stores: Stores;
  let service: Service;
  let sql: pg.Client;

  beforeAll(async () => {
    stores = await freshStores("real");
    service = await startService(stores); // migrates the database
    sql = new pg.Client({ connectionString: stores.env.DATABASE_URL });
    await sql.connect();
    // Everything relative to the database's clock, in one transaction (one now()).
    await sql.query(`
      BEGIN;
      INSERT INTO users (id, phone, date_joined)
        SELECT md5('u' || g)::uuid, '+98935' || lpad(g::text, 7, '0'), now() - interval '90 days' FROM generate_series(1, ${USERS}) g;

      INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, current_refresh_jti)
        SELECT 'xs' || g, md5('u' || (g % ${USERS} + 1))::uuid, now() - interval '31 days', now() - interval '31 days', now() - interval '1 day' - g * interval '1 second', 'xs' || g || 'b'
        FROM generate_series(1, ${EXPIRED_SESSIONS}) g;
      INSERT INTO outstanding_tokens (jti, session_id, user_id, created_at, expires_at, replaced_by, rotated_at)
        SELECT 'xs' || g || 'a', 'xs' || g, md5('u' || (g % ${USERS} + 1))::uuid, now() - interval '10 days', now() - interval '3 days', 'xs' || g || 'b', now() - interval '3 days'
        FROM generate_series(1, ${EXPIRED_SESSIONS}) g;
      INSERT INTO outstanding_tokens (jti, session_id, user_id, created_at, expires_at)
        SELECT 'xs' || g || 'b', 'xs' || g, md5('u' || (g % ${USERS} + 1))::uuid, now() - interval '3 days', now() + interval '4 days'
        FROM generate_series(1, ${EXPIRED_SESSIONS}) g;
      INSERT INTO blacklisted_tokens (jti, blacklisted_at)
        SELECT 'xs' || g || 'a', now() - interval '3 days' FROM generate_series(1, ${EXPIRED_SESSIONS}) g;

      INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, current_refresh_jti)
        SELECT 'chain' || c, md5('u1')::uuid, now() - interval '31 days', now() - interval '31 days', now() - interval '1 hour', 'chain' || c || '-${CHAIN}'
        FROM generate_series(1, ${LONG_CHAINS}) c;
      INSERT INTO outstanding_tokens (jti, session_id, user_id, created_at, expires_at)
        SELECT 'chain' || c || '-' || n, 'chain' || c, md5('u1')::uuid, now() - interval '2 days', now() + interval '5 days'
        FROM generate_series(1, ${LONG_CHAINS}) c, generate_series(1, ${CHAIN}) n;

      INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, current_refresh_jti)
        SELECT 'ls' || g, md5('u' || (g % ${USERS} + 1))::uuid, now() - interval '10 days', now() - interval '10 days', now() + interval '20 days', 'ls' || g || 'b'
        FROM generate_series(1, ${LIVE_SESSIONS}) g;
      INSERT INTO outstanding_tokens (jti, session_id, user_id, created_at, expires_at, replaced_by, rotated_at)
        SELECT 'ls' || g || 'a', 'ls' || g, md5('u' || (g % ${USERS} + 1))::uuid, now() - interval '10 days', now() - interval '3 days', 'ls' || g || 'b', now() - interval '1 day'
        FROM generate_series(1, ${LIVE_SESSIONS}) g;
      INSERT INTO outstanding_tokens (jti, session_id, user_id, created_at, expires_at)
        SELECT 'ls' || g || 'b', 'ls' || g, md5('u' || (g % ${USERS} + 1))::uuid, now() - interval '1 day', now() + interval '6 days'
        FROM generate_series(1, ${LIVE_SESSIONS}) g;
      INSERT INTO blacklisted_tokens (jti, blacklisted_at)
        SELECT 'ls' || g || 'a', now() - interval '1 day' FROM generate_series(1, ${LIVE_SESSIONS}) g;

      INSERT INTO audit_events (at, type, user_id, actor, details)
        SELECT now() - interval '181 days' - g * interval '1 minute', 'user.logged_in', md5('u' || (g % ${USERS} + 1))::uuid, 'user:' || md5('u' || (g % ${USERS} + 1))::uuid, '{}'
        FROM generate_series(1, ${OLD_EVENTS}) g;
      INSERT INTO audit_events (at, type, user_id, actor, details)
        SELECT now() - interval '179 days' - g * interval '1 second', 'session.logged_out_all', md5('u' || (g % ${USERS} + 1))::uuid, 'system', '{"revoked": 1}'
        FROM generate_series(1, ${KEPT_EVENTS}) g;
      COMMIT;
      ANALYZE;
    `);
  }, 60_000);

  afterAll(async () => {
    await sql?.end();
    await service?.stop();
    await stores?.drop();
  });

  const COUNTS = ["sessions", "tokens", "blacklisted", "expired_sessions", "expired_tokens", "tokens_of_expired_sessions", "live_sessions", "unexpired_tokens", "events", "old_events"] as const;
  async function counts(): Promise<Record<(typeof COUNTS)[number], number>> {
    const { rows } = await sql.query<Record<(typeof COUNTS)[number], string>>(`
      SELECT (SELECT count(*) FROM sessions) AS sessions,
             (SELECT count(*) FROM outstanding_tokens) AS tokens,
             (SELECT count(*) FROM blacklisted_tokens) AS blacklisted,
             (SELECT count(*) FROM sessions WHERE expires_at <= now()) AS expired_sessions,
             (SELECT count(*) FROM outstanding_tokens WHERE expires_at <= now()) AS expired_tokens,
             (SELECT count(*) FROM outstanding_tokens t JOIN sessions s ON s.id = t.session_id WHERE s.expires_at <= now()) AS tokens_of_expired_sessions,
             (SELECT count(*) FROM sessions WHERE expires_at > now()) AS live_sessions,
             (SELECT count(*) FROM outstanding_tokens WHERE expires_at > now()) AS unexpired_tokens,
             (SELECT count(*) FROM audit_events) AS events,
             (SELECT count(*) FROM audit_events WHERE at < now() - interval '180 days') AS old_events`);
    return Object.fromEntries(COUNTS.map((name) => [name, Number(rows[0]![name])])) as Record<(typeof COUNTS)[number], number>;
  }

  it("deletes every expired row and old audit event in bounded batches, keeps live rows and younger events, skips a locked row, and never holds up the service's rotations", async () => {
    // Real sessions, rotated by the service while the flush runs.
    const users = await Promise.all(Array.from({ length: 4 }, () => registerUser(service)));
    const before = await counts();
    expect(before.expired_sessions).toBe(EXPIRED_SESSIONS + LONG_CHAINS);
    expect(before.tokens_of_expired_sessions).toBe(2 * EXPIRED_SESSIONS + LONG_CHAINS * CHAIN);
    expect(before.old_events).toBe(OLD_EVENTS);

    // Someone holds one expired session's row locked for the whole run.
    const holder = new pg.Client({ connectionString: stores.env.DATABASE_URL });
    await holder.connect();
    await holder.query("BEGIN");
    await holder.query("SELECT id FROM sessions WHERE id = 'xs1' FOR UPDATE");
    // And the oldest audit event.
    await holder.query("SELECT id FROM audit_events WHERE at = (SELECT min(at) FROM audit_events) FOR UPDATE");

    let flushing = true;
    const run = flushExpired(stores.env.DATABASE_URL!).finally(() => (flushing = false));
    const rotations: number[] = [];
    const writer = (async () => {
      let refresh = users.map((u) => u.tokens.refresh);
      while (flushing) {
        const started = performance.now();
        const next = await Promise.all(refresh.map((r) => service.token.refresh({ refresh: r })));
        rotations.push(performance.now() - started);
        refresh = next.map((n) => n.tokens!.refresh);
      }
      return refresh;
    })();
    const [result, refresh] = await Promise.all([run, writer]);
    await holder.query("ROLLBACK");
    await holder.end();

    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const after = await counts();

    // Every expired row is gone, but the locked session (and its unexpired token).
    expect(after.expired_tokens).toBe(0);
    expect(after.expired_sessions).toBe(1);
    expect(after.tokens_of_expired_sessions).toBe(1);
    expect((await sql.query("SELECT jti FROM outstanding_tokens WHERE session_id = 'xs1'")).rows).toEqual([{ jti: "xs1b" }]);
    // Live rows are untouched: every live session, every unexpired token of a live session.
    expect(after.live_sessions).toBe(before.live_sessions);
    expect(after.live_sessions).toBe(LIVE_SESSIONS + users.length);
    // Every old event but the locked one is gone; younger ones (the service's own too) stay.
    expect(after.old_events).toBe(1);
    expect(after.events).toBe(before.events - OLD_EVENTS + 1);
    expect(before.events - before.old_events).toBeGreaterThan(KEPT_EVENTS);
    expect(after.tokens).toBe(LIVE_SESSIONS + 1 + (await liveTokensOfService()));
    expect(after.blacklisted).toBe(await blacklistedOfService());

    // Bounded batches: each statement deleted at most a batch of each table, and the
    // batches account for every row that went (nothing went by an unbounded cascade).
    const batches = result.log.filter((line) => line.msg === "expired rows batch");
    const eventBatches = result.log.filter((line) => line.msg === "old audit events batch");
    const legacyBatches = result.log.filter((line) => line.msg === "expired spent Django tokens batch");
    const revocationBatches = result.log.filter((line) => line.msg === "old revocations batch");
    const summary = result.log.find((line) => line.msg === "expired rows deleted")!;
    expect(legacyBatches).toHaveLength(1);
    expect(revocationBatches).toHaveLength(1);
    expect(summary).toMatchObject({
      batchSize: BATCH,
      batches: batches.length + legacyBatches.length + eventBatches.length + revocationBatches.length,
      events: OLD_EVENTS - 1,
      legacyTokens: 0,
      revocations: 0,
    });
    for (const batch of batches) {
      expect(Number(batch.sessions)).toBeLessThanOrEqual(BATCH);
      expect(Number(batch.tokens)).toBeLessThanOrEqual(BATCH);
    }
    expect(eventBatches.length).toBeGreaterThanOrEqual(Math.ceil(OLD_EVENTS / BATCH));
    for (const batch of eventBatches) expect(Number(batch.events)).toBeLessThanOrEqual(BATCH);
    expect(eventBatches.reduce((n, batch) => n + Number(batch.events), 0)).toBe(OLD_EVENTS - 1);
    const sum = (key: string) => batches.reduce((n, batch) => n + Number(batch[key]), 0);
    expect(sum("sessions")).toBe(summary.sessions);
    expect(sum("tokens")).toBe(summary.tokens);
    expect(summary.sessions).toBe(before.sessions - after.sessions);
    // Tokens rotated in by the service meanwhile are new rows: count them out.
    expect(summary.tokens).toBe(before.tokens + users.length * rotations.length - after.tokens);
    expect(batches.length).toBeGreaterThanOrEqual(Math.ceil((before.tokens - after.tokens) / BATCH));

    // The service kept rotating throughout, each round answered promptly.
    expect(rotations.length).toBeGreaterThan(0);
    for (const ms of rotations) expect(ms).toBeLessThan(1000);
    for (const r of refresh) expect((await service.token.refresh({ refresh: r })).tokens).toBeDefined();

    // Once the lock is gone, the next run takes the row it skipped.
    const again = await flushExpired(stores.env.DATABASE_URL!);
    expect(again.code).toBe(0);
    expect(again.log.find((line) => line.msg === "expired rows deleted")).toMatchObject({ sessions: 1, tokens: 1, events: 1 });
    expect(await counts()).toMatchObject({ expired_sessions: 0, tokens_of_expired_sessions: 0, old_events: 0 });

    async function liveTokensOfService(): Promise<number> {
      const sids = users.map((u) => jwtPayload(u.tokens.refresh).sid as string);
      const { rows } = await sql.query<{ n: string }>("SELECT count(*) AS n FROM outstanding_tokens WHERE session_id = ANY($1)", [sids]);
      return Number(rows[0]!.n);
    }
    async function blacklistedOfService(): Promise<number> {
      const sids = users.map((u) => jwtPayload(u.tokens.refresh).sid as string);
      const { rows } = await sql.query<{ n: string }>(
        "SELECT count(*) AS n FROM blacklisted_tokens b JOIN outstanding_tokens t ON t.jti = b.jti WHERE t.session_id = ANY($1)",
        [sids],
      );
      return Number(rows[0]!.n);
    }
  }, 60_000);

  it("deletes the revocations no access token can outlive (past ACCESS_TOKEN_LIFETIME, the leeway and a margin), keeps the younger ones, and remembers how far it deleted", async () => {
    // The log's invariant holds: ids follow on from the counter, taken in one statement.
    await sql.query(`
      WITH ids AS (UPDATE revocation_log SET last_id = last_id + 4 RETURNING last_id - 4 AS base)
      INSERT INTO revocations (id, kind, session_id, user_id, revoked_before, at)
      SELECT ids.base + g, 'session', 'old' || g, md5('u1')::uuid, NULL,
             now() - CASE WHEN g < 4 THEN interval '3 hours' ELSE interval '5 minutes' END
      FROM ids, generate_series(1, 4) g`);
    const { rows: before } = await sql.query<{ last_id: string }>("SELECT last_id FROM revocation_log");
    const last = Number(before[0]!.last_id);

    const result = await flushExpired(stores.env.DATABASE_URL!);
    expect(result.code).toBe(0);
    expect(result.log.find((line) => line.msg === "expired rows deleted")).toMatchObject({ revocations: 3 });
    const { rows } = await sql.query<{ session_id: string }>("SELECT session_id FROM revocations WHERE session_id LIKE 'old%' ORDER BY id");
    expect(rows.map((r) => r.session_id)).toEqual(["old4"]);
    const { rows: log } = await sql.query<{ last_id: string; purged_through: string }>("SELECT last_id, purged_through FROM revocation_log");
    expect(log[0]).toEqual({ last_id: String(last), purged_through: String(last - 1) });
  });
});
