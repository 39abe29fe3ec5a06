/**
 * Refresh's group commit on real PostgreSQL, through a real gRPC client: rotations
 * that arrive while the batches in flight hold every slot run together as one
 * statement, and each caller still gets the answer a lone rotation gives. Slots are
 * held by rotations of sessions whose rows a transaction of the test has locked, so
 * what is batched with what is decided by the test, not by timing.
 */
import { Code } from "@connectrpc/connect";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SessionRepository } from "../src/core/ports/sessions.js";
import { ROTATION_BATCHING, type SessionBatches } from "../src/store/postgres/sessions.js";
import { eventually } from "./support/eventually.js";
import { failure, freshStores, registerUser, startService, type Service, type Stores } from "./support/grpc-harness.js";
import { realStoresAvailable } from "./support/services.js";
import { jwtPayload, movableClock } from "./support/tools.js";

const SLOTS = ROTATION_BATCHING.postgres.maxInFlight;
const MAX_BATCH = ROTATION_BATCHING.postgres.maxBatch;

interface Pair {
  access: string;
  refresh: string;
}

const jti = (token: string) => jwtPayload(token).jti as string;
const sid = (token: string) => jwtPayload(token).sid as string;

describe.runIf(realStoresAvailable())("refresh batching on real PostgreSQL", () => {
  const clock = movableClock();
  let stores: Stores;
  let service: Service;
  let db: pg.Client;
  let batches: SessionBatches["rotationBatches"];

  beforeAll(async () => {
    stores = await freshStores("real");
    service = await startService(stores, { clock });
    db = new pg.Client({ connectionString: stores.env.DATABASE_URL });
    await db.connect();
    const sessions: SessionRepository = service.app.deps.sessions;
    if (!("rotationBatches" in sessions)) throw new Error("the PostgreSQL session repository has no rotation batches");
    batches = (sessions as SessionRepository & SessionBatches).rotationBatches;
  });
  afterAll(async () => {
    await db?.end();
    await service?.stop();
    await stores?.drop();
  });

  const newChain = async (): Promise<Pair> => (await registerUser(service)).tokens;

  /** Locks these sessions' rows in a transaction of its own, until `release`. */
  async function hold(tokens: readonly Pair[]): Promise<{ release(): Promise<void> }> {
    const holder = new pg.Client({ connectionString: stores.env.DATABASE_URL });
    await holder.connect();
    await holder.query("BEGIN");
    await holder.query("SELECT id FROM sessions WHERE id = ANY($1) FOR UPDATE", [tokens.map((t) => sid(t.refresh))]);
    return {
      async release() {
        await holder.query("COMMIT");
        await holder.end();
      },
    };
  }

  /** Backends of the service waiting for a row lock, i.e. batches held by `hold`. */
  async function waitingBackends(): Promise<number[]> {
    const { rows } = await db.query<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'identity-service' AND wait_event_type = 'Lock'",
    );
    return rows.map((r) => r.pid);
  }

  /** Fills every batch slot with a rotation that waits on a held row; what is
   * submitted next queues in the group commit until `release`. */
  async function occupySlots(): Promise<{ answers: Promise<Pair>[]; release(): Promise<void> }> {
    const occupants = await Promise.all(Array.from({ length: SLOTS }, newChain));
    const held = await hold(occupants);
    // Each takes a free slot as it arrives; they wait on held rows, within the
    // statement time-out (5 s), so the tests release them as soon as they can.
    const answers = occupants.map((occupant) => service.token.refresh({ refresh: occupant.refresh }).then((r) => r.tokens!));
    await eventually(waitingBackends, (pids) => pids.length === SLOTS, { stepMs: 10 });
    return { answers, release: () => held.release() };
  }

  async function sessionRow(sessionId: string) {
    const { rows } = await db.query<{ current_refresh_jti: string; revoked_reason: string | null }>("SELECT current_refresh_jti, revoked_reason FROM sessions WHERE id = $1", [
      sessionId,
    ]);
    return rows[0]!;
  }

  async function tokenRows(sessionId: string) {
    const { rows } = await db.query<{ jti: string; replaced_by: string | null; blacklisted: boolean }>(
      `SELECT t.jti, t.replaced_by, b.jti IS NOT NULL AS blacklisted
       FROM outstanding_tokens t LEFT JOIN blacklisted_tokens b ON b.jti = t.jti WHERE t.session_id = $1 ORDER BY t.created_at, t.jti`,
      [sessionId],
    );
    return rows;
  }

  it("gives each caller of one batch its own answer: winners, a race's loser, a grace replay, a reuse after the grace, a revoked session", async () => {
    const winners = await Promise.all(Array.from({ length: 5 }, newChain));
    const raced = await newChain();
    const [graced, reused, revoked] = await Promise.all([newChain(), newChain(), newChain()]);
    // Rotated out more than REFRESH_REUSE_INTERVAL (10 s) ago, and just now.
    const reusedNext = (await service.token.refresh({ refresh: reused.refresh })).tokens!;
    clock.advance(10_001);
    const gracedNext = (await service.token.refresh({ refresh: graced.refresh })).tokens!;

    const slots = await occupySlots();
    const before = { ...batches.stats };
    const winning = winners.map((w) => service.token.refresh({ refresh: w.refresh }));
    const race = [service.token.refresh({ refresh: raced.refresh }), service.token.refresh({ refresh: raced.refresh })];
    const replay = service.token.refresh({ refresh: graced.refresh });
    const reuse = failure(service.token.refresh({ refresh: reused.refresh }));
    const ofRevoked = failure(service.token.refresh({ refresh: revoked.refresh }));
    // All past the liveness check and waiting for a slot; then the session ends.
    await eventually(async () => batches.queued(), (n) => n === 10);
    await service.auth.logout({ refresh: revoked.refresh });
    await slots.release();

    for (const [i, answer] of (await Promise.all(winning)).entries()) {
      const pair = answer.tokens!;
      expect(sid(pair.refresh)).toBe(sid(winners[i]!.refresh));
      expect(await service.token.verify({ token: pair.access })).toMatchObject({ valid: true });
      expect((await sessionRow(sid(pair.refresh))).current_refresh_jti).toBe(jti(pair.refresh));
    }
    // Two rotations of one token: one winner, and the other gets its successor.
    const [first, second] = (await Promise.all(race)).map((r) => r.tokens!);
    expect(jti(first!.refresh)).toBe(jti(second!.refresh));
    expect((await sessionRow(sid(raced.refresh))).current_refresh_jti).toBe(jti(first!.refresh));
    expect(await tokenRows(sid(raced.refresh))).toHaveLength(2);
    expect(jti((await replay).tokens!.refresh)).toBe(jti(gracedNext.refresh));
    expect(await reuse).toMatchObject({ code: Code.PermissionDenied, reason: "token_blacklisted" });
    expect(await sessionRow(sid(reused.refresh))).toMatchObject({ revoked_reason: "reuse_detected", current_refresh_jti: jti(reusedNext.refresh) });
    expect(await ofRevoked).toMatchObject({ code: Code.PermissionDenied, reason: "session_revoked" });
    expect(await sessionRow(sid(revoked.refresh))).toMatchObject({ revoked_reason: "logout", current_refresh_jti: jti(revoked.refresh) });
    expect(await tokenRows(sid(revoked.refresh))).toEqual([{ jti: jti(revoked.refresh), replaced_by: null, blacklisted: false }]);
    for (const occupant of await Promise.all(slots.answers)) expect(await service.token.verify({ token: occupant.access })).toMatchObject({ valid: true });

    // The ten queued calls: nine sessions in one batch, the race's second call in the next.
    expect(batches.stats.calls - before.calls).toBe(10);
    expect(batches.stats.batches - before.batches).toBe(2);
    expect(batches.stats.largest).toBeGreaterThanOrEqual(9);
  });

  it("answers every caller of a batch PostgreSQL fails UNAVAILABLE, and writes nothing of it", async () => {
    const chains = await Promise.all(Array.from({ length: 6 }, newChain));
    const slots = await occupySlots();
    // Locked beyond the slots' release: the batch of the queued calls waits on it.
    const blocker = chains[0]!;
    const held = await hold([blocker]);
    const calls = chains.map((c) => failure(service.token.refresh({ refresh: c.refresh })));
    await eventually(async () => batches.queued(), (n) => n === chains.length);
    const started = batches.stats.batches;
    await slots.release();
    await Promise.all(slots.answers);
    // The queued calls started as one batch, now waiting on the blocker's row: cut it.
    await eventually(waitingBackends, (pids) => pids.length === 1);
    expect(batches.stats.batches - started).toBe(1);
    const [pid] = await waitingBackends();
    await db.query("SELECT pg_terminate_backend($1)", [pid]);
    for (const answer of await Promise.all(calls)) expect(answer).toMatchObject({ code: Code.Unavailable });
    await held.release();

    for (const chain of chains) {
      expect((await sessionRow(sid(chain.refresh))).current_refresh_jti).toBe(jti(chain.refresh));
      expect(await tokenRows(sid(chain.refresh))).toEqual([{ jti: jti(chain.refresh), replaced_by: null, blacklisted: false }]);
    }
    // Nothing was spent: every chain goes on from the token it holds.
    for (const chain of chains) {
      const next = (await service.token.refresh({ refresh: chain.refresh })).tokens!;
      expect((await sessionRow(sid(chain.refresh))).current_refresh_jti).toBe(jti(next.refresh));
    }
  });

  it("runs a batch PostgreSQL chose to break a deadlock once more, and its callers get their tokens", async () => {
    const two = await Promise.all([newChain(), newChain()]);
    const { rows } = await db.query<{ id: string }>("SELECT id FROM sessions WHERE id = ANY($1) ORDER BY id", [two.map((c) => sid(c.refresh))]);
    const [low, high] = rows.map((r) => two.find((c) => sid(c.refresh) === r.id)!);
    // Another statement holds the later row, and will want the earlier one. Made
    // first, so that the slots are held (and the batch waits) no longer than needed:
    // the batch must see the cycle within deadlock_timeout (1 s) of starting to wait,
    // or the other statement would be the one PostgreSQL aborts.
    const other = new pg.Client({ connectionString: stores.env.DATABASE_URL });
    await other.connect();
    let calls: ReturnType<typeof service.token.refresh>[] = [];
    try {
      await other.query("BEGIN");
      await other.query("SELECT id FROM sessions WHERE id = $1 FOR UPDATE", [sid(high!.refresh)]);
      const slots = await occupySlots();
      calls = two.map((c) => service.token.refresh({ refresh: c.refresh }));
      await eventually(async () => batches.queued(), (n) => n === 2, { stepMs: 10 });
      await slots.release();
      await Promise.all(slots.answers);
      // The batch holds the earlier row and waits for the later: now the cycle closes.
      await eventually(waitingBackends, (pids) => pids.length === 1, { stepMs: 10 });
      await other.query("SELECT id FROM sessions WHERE id = $1 FOR UPDATE", [sid(low!.refresh)]);
      await other.query("COMMIT");
    } finally {
      await other.end();
    }
    for (const [i, answer] of (await Promise.all(calls)).entries()) {
      expect((await sessionRow(sid(two[i]!.refresh))).current_refresh_jti).toBe(jti(answer.tokens!.refresh));
    }
  });

  it(`carries at most ${MAX_BATCH} rotations in one batch`, async () => {
    const chains = await Promise.all(Array.from({ length: 2 * MAX_BATCH + 10 }, newChain));
    const slots = await occupySlots();
    const before = { ...batches.stats };
    const calls = chains.map((c) => service.token.refresh({ refresh: c.refresh }));
    await eventually(async () => batches.queued(), (n) => n === chains.length);
    await slots.release();
    const answers = await Promise.all(calls);
    expect(answers.map((a) => sid(a.tokens!.refresh))).toEqual(chains.map((c) => sid(c.refresh)));
    expect(batches.stats.calls - before.calls).toBe(chains.length);
    expect(batches.stats.largest).toBe(MAX_BATCH);
    expect(batches.stats.batches - before.batches).toBeGreaterThanOrEqual(3);
  });

  it("keeps many chains refreshing at once valid: every answer verifies, and each session's live token is the last its chain holds", async () => {
    const chains = await Promise.all(Array.from({ length: 48 }, newChain));
    const before = { ...batches.stats };
    await Promise.all(
      chains.map(async (chain, i) => {
        for (let round = 0; round < 15; round += 1) {
          const next = (await service.token.refresh({ refresh: chains[i]!.refresh })).tokens!;
          expect(sid(next.refresh)).toBe(sid(chain.refresh));
          expect(await service.token.verify({ token: next.access })).toMatchObject({ valid: true });
          chains[i] = next;
        }
      }),
    );
    for (const chain of chains) {
      expect((await sessionRow(sid(chain.refresh))).current_refresh_jti).toBe(jti(chain.refresh));
      const rows = await tokenRows(sid(chain.refresh));
      expect(rows).toHaveLength(16);
      expect(rows.filter((r) => r.replaced_by === null).map((r) => r.jti)).toEqual([jti(chain.refresh)]);
      expect(rows.filter((r) => r.blacklisted)).toHaveLength(15);
    }
    expect(batches.stats.calls - before.calls).toBe(48 * 15);
  });
});
