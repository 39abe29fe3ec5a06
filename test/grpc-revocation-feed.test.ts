/**
 * The revocation feed (TokenService.WatchRevocations) read by a real @grpc/grpc-js
 * client, on real PostgreSQL and Redis: every kind of revocation, in order, made on
 * one instance and seen on a stream from the other within a second; the opening set
 * and its window; resumption by cursor; heartbeats; a lost announcement; a consumer
 * that stops reading; keys; reflection and buf curl; shutdown.
 */
import { spawn } from "node:child_process";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { status as Status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { AdminService } from "../gen/identity/v1/admin_pb.js";
import { bearer, freshStores, loginUser, registerUser, startService, twoInstances, type Service, type Stores, type TwoInstances } from "./support/grpc-harness.js";
import { identity, ROOT } from "./support/cli.js";
import { eventually } from "./support/eventually.js";
import { realStoresAvailable, REDIS_URL } from "./support/services.js";
import { startServiceProcess } from "./support/bridge-processes.js";
import { deleteKeysUnder, jwtPayload, movableClock, redisKeyPrefixOf, sharedRedis, type MovableClock } from "./support/tools.js";
import { watchFeed, type FeedOptions, type FeedStream, type SeenEvent } from "./support/revocation-feed.js";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

const API_KEY = "backend-0123456789abcdef0123456789";
const ADMIN_KEY = "desk-0123456789abcdef0123456789ab";
const ENV = { SERVICE_API_KEYS: `desk:${ADMIN_KEY}:admin,backend:${API_KEY}`, REFRESH_REUSE_INTERVAL: "0s" };
const desk = { headers: { "x-api-key": ADMIN_KEY } };
const BUF = join(ROOT, "node_modules", ".bin", "buf");

const sid = (token: string) => jwtPayload(token).sid as string;

/** What a revocation is, as a test names it. */
const shapeOf = (e: SeenEvent) => ({ kind: e.kind, userId: e.userId, sessionId: e.sessionId });

describe.runIf(realStoresAvailable())("the revocation feed", () => {
  let pair: TwoInstances;
  let a: Service;
  let b: Service;
  let sql: pg.Client;
  const streams: FeedStream[] = [];
  const feed = (service: Service, options: FeedOptions = {}) => {
    const stream = watchFeed(service.port, { apiKey: API_KEY, ...options });
    streams.push(stream);
    return stream;
  };
  const adminOf = (service: Service) => createClient(AdminService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.port}` }));
  /** The environment the CLI needs to act on the pair's stores. */
  const cliEnv = (prefix = redisKeyPrefixOf(a.config)) => ({ DATABASE_URL: a.config.databaseUrl!, REDIS_URL, REDIS_KEY_PREFIX: prefix, DATA_DIR: a.config.dataDir, LOG_LEVEL: "silent" });
  /** Every revocation so far, as a fresh stream's opening set has them. */
  const everything = async (service: Service) => {
    const stream = feed(service);
    await eventually(async () => stream.events, (events) => events.some((e) => e.kind === "heartbeat"));
    stream.close();
    return stream.revocations();
  };

  beforeAll(async () => {
    pair = await twoInstances(ENV);
    ({ a, b } = pair);
    sql = new pg.Client({ connectionString: a.config.databaseUrl });
    await sql.connect();
  });
  afterAll(async () => {
    for (const stream of streams) stream.close();
    await sql?.end();
    await pair?.close();
  });

  it("sends every kind of revocation made on A to a stream from B within a second, in the order they were made", async () => {
    const stream = feed(b);
    const expected: ReturnType<typeof shapeOf>[] = [];
    /** Makes a revocation on A and waits (1 s at most) until B's stream has sent it. */
    const seen = async (make: () => Promise<unknown>, ...events: ReturnType<typeof shapeOf>[]) => {
      await make();
      expected.push(...events);
      await stream.revocationsUntil((got) => events.every((e) => got.some((g) => g.userId === e.userId && g.kind === e.kind && g.sessionId === e.sessionId)), 1_000);
    };

    const loggedOut = await registerUser(a);
    await seen(() => a.auth.logout({ refresh: loggedOut.tokens.refresh }), { kind: "session", userId: loggedOut.user.id, sessionId: sid(loggedOut.tokens.access) });

    const twoDevices = await registerUser(a);
    const laptop = await loginUser(a, twoDevices.phone);
    await seen(() => a.auth.revokeSession({ sessionId: sid(twoDevices.tokens.access) }, bearer(laptop.tokens.access)), {
      kind: "session",
      userId: twoDevices.user.id,
      sessionId: sid(twoDevices.tokens.access),
    });

    const three = await registerUser(a);
    const second = await loginUser(a, three.phone);
    const third = await loginUser(a, three.phone);
    await seen(
      () => a.auth.logoutOthers({}, bearer(three.tokens.access)),
      ...[second, third].map((s) => ({ kind: "session" as const, userId: three.user.id, sessionId: sid(s.tokens.access) })),
    );

    const everywhere = await registerUser(a);
    await seen(() => a.auth.logoutAll({}, bearer(everywhere.tokens.access)), { kind: "user_before", userId: everywhere.user.id, sessionId: "" });

    const stolen = await registerUser(a);
    await a.token.refresh({ refresh: stolen.tokens.refresh });
    await seen(() => a.token.refresh({ refresh: stolen.tokens.refresh }).catch(() => "reuse detected"), {
      kind: "session",
      userId: stolen.user.id,
      sessionId: sid(stolen.tokens.access),
    });

    const ended = await registerUser(a);
    await seen(() => adminOf(a).revokeUserSessions({ id: ended.user.id }, desk), { kind: "user_before", userId: ended.user.id, sessionId: "" });

    const deactivated = await registerUser(a);
    await seen(() => adminOf(a).updateUser({ id: deactivated.user.id, isActive: false }, desk), { kind: "user_before", userId: deactivated.user.id, sessionId: "" });

    const disabled = await registerUser(a);
    await seen(async () => expect((await identity(cliEnv(), "users", "disable", disabled.phone)).status).toBe(0), { kind: "user_before", userId: disabled.user.id, sessionId: "" });

    // In the order made, on both instances alike, each once.
    const ours = new Set(expected.map((e) => e.userId));
    const onB = stream.revocations().filter((e) => ours.has(e.userId));
    // LogoutOthers' two sessions come in one statement, in either order between them.
    const normalized = (events: ReturnType<typeof shapeOf>[]) => events.map((e) => `${e.kind}:${e.userId}`);
    expect(normalized(onB.map(shapeOf))).toEqual(normalized(expected));
    expect(new Set(onB.map((e) => e.sessionId).filter(Boolean))).toEqual(new Set(expected.map((e) => e.sessionId).filter(Boolean)));
    const onA = (await everything(a)).filter((e) => ours.has(e.userId));
    expect(onA.map((e) => e.cursor)).toEqual(onB.map((e) => e.cursor));

    // USER_BEFORE carries the instant the service recorded: the sessions it ended started at or before it.
    const before = onB.find((e) => e.userId === everywhere.user.id)!;
    expect(before.revokedBeforeMs).toBeGreaterThanOrEqual((jwtPayload(everywhere.tokens.access).iat as number) * 1000);
    expect(before.atMs).toBeGreaterThan(0);
  }, 60_000);

  it("sends a heartbeat at least every second while nothing happens, with the cursor of the last event", async () => {
    const stream = feed(a);
    await eventually(async () => stream.events.filter((e) => e.kind === "heartbeat").length, (n) => n >= 5);
    const beats = stream.events.filter((e) => e.kind === "heartbeat");
    const gaps = beats.slice(1).map((beat, i) => beat.arrivedAt - beats[i]!.arrivedAt);
    for (const gap of gaps) expect(gap).toBeLessThanOrEqual(1_000);
    const revocations = stream.revocations();
    if (revocations.length > 0) expect(beats.at(-1)!.cursor).toBe(revocations.at(-1)!.cursor);
    for (const beat of beats) expect(Math.abs(beat.atMs - Date.now())).toBeLessThan(60_000);
  });

  it("resumes after a cursor with every later revocation, none twice and none missing", async () => {
    const first = feed(b);
    const users = await Promise.all([1, 2, 3].map(() => registerUser(a)));
    for (const u of users) await a.auth.logout({ refresh: u.tokens.refresh });
    const got = await first.revocationsUntil((events) => users.every((u) => events.some((e) => e.userId === u.user.id)));
    const cursor = got.find((e) => e.userId === users[0]!.user.id)!.cursor;
    first.close();
    const later = await Promise.all([1, 2].map(() => registerUser(b)));
    for (const u of later) await b.auth.logout({ refresh: u.tokens.refresh });

    const all = await everything(a);
    const after = all.slice(all.findIndex((e) => e.cursor === cursor) + 1);
    expect(after.map((e) => e.userId)).toEqual(expect.arrayContaining([users[1]!.user.id, users[2]!.user.id, ...later.map((u) => u.user.id)]));
    const resumed = feed(a, { cursor });
    await resumed.revocationsUntil((events) => events.length >= after.length);
    await eventually(async () => resumed.events, (events) => events.at(-1)?.kind === "heartbeat");
    expect(resumed.revocations()).toEqual(after.map((e) => expect.objectContaining({ cursor: e.cursor, userId: e.userId, sessionId: e.sessionId })));
  });

  it("refuses a malformed cursor with INVALID_ARGUMENT, and one of its own that retention passed gets the full opening set", async () => {
    const malformed = feed(a, { cursor: "not-a-cursor" });
    expect(await malformed.ended).toMatchObject({ code: Status.INVALID_ARGUMENT });

    const { tokens } = await registerUser(a);
    await a.auth.logout({ refresh: tokens.refresh });
    const all = await everything(a);
    const old = all[0]!.cursor;
    // As if flush-expired had deleted rows after that cursor.
    await sql.query("UPDATE revocation_log SET purged_through = (SELECT max(id) FROM revocations)");
    try {
      const again = feed(a, { cursor: old });
      await eventually(async () => again.events, (events) => events.some((e) => e.kind === "heartbeat"));
      expect(again.revocations().map((e) => e.cursor)).toEqual(all.map((e) => e.cursor));
    } finally {
      await sql.query("UPDATE revocation_log SET purged_through = 0");
    }
  });

  it("sends a revocation whose announcement was lost (made where nobody listens, after Redis lost every key) from the poll, within a second", async () => {
    const stream = feed(b);
    const redis = sharedRedis();
    try {
      await deleteKeysUnder(redis, redisKeyPrefixOf(b.config));
    } finally {
      redis.disconnect();
    }
    const { phone, user } = await registerUser(a);
    // The CLI announces on another prefix's channel: no instance of this pair hears it.
    expect((await identity(cliEnv(`${redisKeyPrefixOf(a.config)}elsewhere:`), "users", "disable", phone)).status).toBe(0);
    await stream.revocationsUntil((events) => events.some((e) => e.userId === user.id && e.kind === "user_before"), 1_000);
  });

  it("refuses a stream without a key, or with an unknown one (UNAUTHENTICATED)", async () => {
    const none = watchFeed(a.port, {});
    const unknown = watchFeed(a.port, { apiKey: "not-a-key-of-this-service-000000" });
    streams.push(none, unknown);
    expect((await none.ended).code).toBe(Status.UNAUTHENTICATED);
    expect((await unknown.ended).code).toBe(Status.UNAUTHENTICATED);
    expect(none.events).toEqual([]);
  });

  it("lists WatchRevocations through reflection, and buf curl watches it", async () => {
    const url = `http://127.0.0.1:${a.port}`;
    const listed = await bufCurl(["--list-methods", url]);
    expect(listed.split("\n")).toContain("identity.v1.TokenService/WatchRevocations");
    const watched = await bufCurl(["-H", `x-api-key: ${API_KEY}`, "-d", "{}", `${url}/identity.v1.TokenService/WatchRevocations`], (out) => out.includes("REVOCATION_KIND_HEARTBEAT"));
    expect(watched).toContain('"kind": "REVOCATION_KIND_HEARTBEAT"');
  });

  it("ends the stream of a consumer that stops reading while revocations pile up with RESOURCE_EXHAUSTED and the cursor to resume from; resuming there misses nothing", async () => {
    const stalled = feed(a);
    await eventually(async () => stalled.events, (events) => events.some((e) => e.kind === "heartbeat"));
    stalled.pause();
    // Many revocations at once: sessions of one user, ended by LogoutOthers.
    const { user, tokens } = await registerUser(a);
    const MANY = 3_000;
    await sql.query(
      `INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, current_refresh_jti)
       SELECT 'pile' || lpad(g::text, 18, '0'), $1, now(), now(), now() + interval '1 day', 'pile-jti-' || g FROM generate_series(1, ${MANY}) g`,
      [user.id],
    );
    expect((await a.auth.logoutOthers({}, bearer(tokens.access))).revoked).toBe(MANY);
    const memory = process.memoryUsage();
    stalled.resume();
    const status = await stalled.ended;
    expect(status.code).toBe(Status.RESOURCE_EXHAUSTED);
    expect(status.details).toBe("consumer fell behind; resume from your last cursor");
    const resumeCursor = status.metadata.get("x-resume-cursor")[0];
    const last = stalled.events.at(-1)!;
    expect(resumeCursor).toBe(last.cursor);
    const delivered = stalled.revocations().filter((e) => e.userId === user.id).length;
    expect(delivered).toBeLessThan(MANY);

    const resumed = feed(a, { cursor: String(resumeCursor) });
    await resumed.revocationsUntil((events) => delivered + events.filter((e) => e.userId === user.id).length >= MANY, 20_000);
    const sessions = [...stalled.revocations(), ...resumed.revocations()].filter((e) => e.userId === user.id).map((e) => e.sessionId);
    expect(sessions).toHaveLength(MANY);
    expect(new Set(sessions).size).toBe(MANY);
    // The service held a bounded backlog for the stalled stream, not the pile.
    expect(process.memoryUsage().heapUsed - memory.heapUsed).toBeLessThan(64 * 1024 * 1024);
  }, 60_000);
});

describe.runIf(realStoresAvailable())("the revocation feed's opening set", () => {
  let stores: Stores;
  let service: Service;
  let clock: MovableClock;
  beforeAll(async () => {
    stores = await freshStores("real");
    clock = movableClock();
    service = await startService(stores, { env: { ...ENV, ACCESS_TOKEN_LIFETIME: "10m", JWT_LEEWAY: "30s" }, clock });
  });
  afterAll(async () => {
    await service?.stop();
    await stores?.drop();
  });

  it("opens with the revocations of the last ACCESS_TOKEN_LIFETIME and leeway only, and a cursor of another database gets that set", async () => {
    const watching = watchFeed(service.port, { apiKey: API_KEY });
    try {
      const old = await registerUser(service);
      await service.auth.logout({ refresh: old.tokens.refresh });
      clock.advance(10 * 60_000 + 30_000 + 1_000);
      const recent = await registerUser(service);
      await service.auth.logout({ refresh: recent.tokens.refresh });
      // A stream that was open sent both.
      await watching.revocationsUntil((events) => [old, recent].every((u) => events.some((e) => e.userId === u.user.id)));

      const opened = watchFeed(service.port, { apiKey: API_KEY });
      await eventually(async () => opened.events, (events) => events.some((e) => e.kind === "heartbeat"));
      expect(opened.revocations().map((e) => e.userId)).toEqual([recent.user.id]);
      opened.close();

      // A well-formed cursor of another database (epoch) is too old to resume: the set again.
      const foreign = watching.events.at(-1)!.cursor.replace(/^[0-9a-f]{32}/, "0".repeat(32));
      const reopened = watchFeed(service.port, { apiKey: API_KEY, cursor: foreign });
      await eventually(async () => reopened.events, (events) => events.some((e) => e.kind === "heartbeat"));
      expect(reopened.revocations().map((e) => e.userId)).toEqual([recent.user.id]);
      reopened.close();
    } finally {
      watching.close();
    }
  });
});

describe.runIf(realStoresAvailable())("the revocation feed at shutdown", () => {
  it("ends open streams with UNAVAILABLE on SIGTERM, and the process exits by itself without waiting for them", async () => {
    const stores = await freshStores("real");
    const dataDir = await mkdtemp(join(tmpdir(), "identity-feed-"));
    const service = await startServiceProcess({ ...stores.env, DATA_DIR: dataDir, SERVICE_ROLE: "grpc", GRPC_PORT: "0", SERVICE_API_KEYS: `backend:${API_KEY}` });
    try {
      const stream = watchFeed(Number(service.listening.grpcPort), { apiKey: API_KEY });
      await eventually(async () => stream.events, (events) => events.some((e) => e.kind === "heartbeat"));
      const stopped = service.stop();
      expect((await stream.ended).code).toBe(Status.UNAVAILABLE);
      await stopped;
      // Exited by itself (stop() kills after 5 s; the drain's grace is 10 s).
      expect(await service.exited).toEqual({ code: 0, signal: null });
      stream.close();
    } finally {
      await service.stop();
      await stores.drop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

/** `buf curl` over gRPC with HTTP/2 prior knowledge; a stream is read until `enough`
 * says so, then buf is stopped. Returns what it printed. */
function bufCurl(args: string[], enough?: (stdout: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(BUF, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      if (enough?.(stdout)) child.kill("SIGTERM");
    });
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.once("exit", () => {
      clearTimeout(timer);
      if (stdout === "" && stderr !== "") reject(new Error(stderr));
      else resolve(stdout);
    });
  });
}

describe("the revocation feed on the embedded default (PGlite, in-process store)", () => {
  let stores: Stores;
  let service: Service;
  beforeAll(async () => {
    stores = await freshStores("embedded");
    service = await startService(stores, { env: ENV });
  });
  afterAll(async () => {
    await service?.stop();
    await stores?.drop();
  });

  it("sends a logout to an open stream within a second, after heartbeats", async () => {
    const stream = watchFeed(service.port, { apiKey: API_KEY });
    try {
      await eventually(async () => stream.events, (events) => events.some((e) => e.kind === "heartbeat"));
      const { user, tokens } = await registerUser(service);
      await service.auth.logout({ refresh: tokens.refresh });
      const [event] = await stream.revocationsUntil((events) => events.some((e) => e.userId === user.id), 1_000);
      expect(event).toMatchObject({ kind: "session", userId: user.id, sessionId: sid(tokens.access) });
    } finally {
      stream.close();
    }
  });
});
