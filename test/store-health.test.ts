/**
 * Health that explains itself (issue 12, part 3): while a store does not answer,
 * identity_store_up{store} says 0 and identity_store_errors_total{store} counts the
 * calls it failed, and the log says once that it went down (which store, and why)
 * and once that it is back (after how long), however many calls failed meanwhile.
 *
 * The service runs in-process on real stores: PostgreSQL through a TCP proxy this
 * suite cuts (the server refusing connections), Redis of its own that it pauses
 * (CLIENT PAUSE: connected, answering nothing, as a hung Redis looks).
 */
import { Code } from "@connectrpc/connect";
import { Redis } from "ioredis";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServiceMetrics, type ServiceMetrics, type StoreName } from "../src/observability/metrics.js";
import { bearer, failure, OtpPurpose, registerUser, startService, type Service } from "./support/grpc-harness.js";
import { eventually } from "./support/eventually.js";
import { freshPhone } from "./support/phones.js";
import { parsePrometheusText } from "./support/prometheus-text.js";
import { freshDatabase, freshKeyPrefix, POSTGRES_ADMIN_URL, realStoresAvailable } from "./support/services.js";
import { tcpProxy, type TcpProxy } from "./support/tcp-proxy.js";
import { redisChild, type RedisChild } from "./support/tools.js";

/** A pino line as JSON. */
type LogLine = { level: number; msg: string; [field: string]: unknown };

/** How many calls each outage fails: more than one, so "once per outage" means something. */
const FAILED_CALLS = 6;

describe.runIf(realStoresAvailable())("store health through the real service", () => {
  let metrics: ServiceMetrics;
  const log: LogLine[] = [];
  let postgres: TcpProxy;
  let redis: RedisChild;
  let database: { url: string; drop: () => Promise<void> };
  let service: Service;

  const scrape = async () => parsePrometheusText(await metrics.registry.metrics());
  const up = async (store: StoreName) => (await scrape()).value("identity_store_up", { store });
  const errors = async (store: StoreName) => (await scrape()).value("identity_store_errors_total", { store });
  const linesOf = (store: StoreName) => log.filter((line) => line.store === store).map(({ msg, store: s, cause }) => ({ msg, store: s, ...(cause === undefined ? {} : { cause }) }));

  beforeAll(async () => {
    metrics = createServiceMetrics({ defaultMetrics: false });
    const admin = new URL(POSTGRES_ADMIN_URL);
    postgres = await tcpProxy({ host: admin.hostname, port: Number(admin.port || 5432) });
    redis = await redisChild();
    await redis.start();
    database = await freshDatabase();
    const proxied = new URL(database.url);
    proxied.host = `127.0.0.1:${postgres.port}`;
    service = await startService(
      { mode: "real", env: { DATABASE_URL: proxied.toString(), REDIS_URL: redis.url, REDIS_KEY_PREFIX: freshKeyPrefix() }, drop: database.drop },
      { metrics, logger: pino({ level: "info" }, { write: (line: string) => void log.push(JSON.parse(line) as LogLine) }) },
    );
  });
  afterAll(async () => {
    await service?.stop();
    await postgres?.refuse();
    await redis?.stop();
    await database?.drop();
  });

  it("reports both stores up while they answer, with no errors and nothing logged about them", async () => {
    await registerUser(service);
    expect(await up("postgres")).toBe(1);
    expect(await up("redis")).toBe(1);
    expect(await errors("postgres")).toBe(0);
    expect(await errors("redis")).toBe(0);
    expect(linesOf("postgres")).toEqual([]);
    expect(linesOf("redis")).toEqual([]);
  });

  it("when Redis hangs: up goes 0 then 1, each failed call counts, and one 'down' line (timeout) and one 'back' line are logged for the outage", async () => {
    const errorsBefore = await errors("redis");
    const pauseMs = 5_000;
    const admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      await admin.call("CLIENT", "PAUSE", String(pauseMs), "ALL");
    } finally {
      admin.disconnect();
    }
    // Send-otp counts its rate limits in Redis: each is refused.
    const sends = () => Promise.all(Array.from({ length: FAILED_CALLS / 2 }, () => failure(service.auth.sendOtp({ phone: freshPhone().e164, purpose: OtpPurpose.REGISTER }))));
    const refused = [...(await sends())];
    await eventually(() => up("redis"), (value) => value === 0, { withinMs: 3_000, stepMs: 50 });
    refused.push(...(await sends()));
    expect(refused.map((r) => [r.code, r.reason])).toEqual(refused.map(() => [Code.Unavailable, "service_unavailable"]));
    expect(await errors("redis")).toBeGreaterThanOrEqual(errorsBefore + FAILED_CALLS);
    expect(await up("postgres")).toBe(1);

    await eventually(() => up("redis"), (value) => value === 1, { withinMs: pauseMs + 4_000, stepMs: 50 });
    await registerUser(service);
    expect(linesOf("redis")).toEqual([
      { msg: "store down", store: "redis", cause: "timeout" },
      { msg: "store back", store: "redis" },
    ]);
    const [down, back] = log.filter((line) => line.store === "redis");
    // Redis's command time-out (500 ms) or the probe's own (800 ms), whichever a busy machine lets fire first.
    expect(down).toMatchObject({ level: 40, detail: expect.stringMatching(/timed out|no answer within/i) });
    expect(back).toMatchObject({ level: 30, downMs: expect.any(Number) });
    expect(back!.downMs).toBeGreaterThan(0);
    // Each refused call has its own line, quiet and without the cause repeated.
    const calls = log.filter((line) => line.msg === "rpc" && line.outcome === "service_unavailable");
    expect(calls).toHaveLength(FAILED_CALLS);
    for (const line of calls) {
      expect(line).toMatchObject({ level: 30, rpc: "identity.v1.AuthService/SendOtp", dependency: "cache" });
      expect(line).not.toHaveProperty("cause");
    }
  }, 20_000);

  it("when PostgreSQL refuses connections: up goes 0 then 1, each failed call counts, and one 'down' line (connection refused) and one 'back' line are logged", async () => {
    const { tokens } = await registerUser(service);
    const errorsBefore = await errors("postgres");
    await postgres.refuse();
    // Listing sessions reads PostgreSQL (the bearer's liveness is Redis's, which answers).
    const lists = () => Promise.all(Array.from({ length: FAILED_CALLS / 2 }, () => failure(service.auth.listSessions({}, bearer(tokens.access)))));
    const refused = [...(await lists())];
    await eventually(() => up("postgres"), (value) => value === 0, { withinMs: 3_000, stepMs: 50 });
    refused.push(...(await lists()));
    expect(refused.map((r) => [r.code, r.reason])).toEqual(refused.map(() => [Code.Unavailable, "service_unavailable"]));
    expect(await errors("postgres")).toBeGreaterThanOrEqual(errorsBefore + FAILED_CALLS);
    expect(await up("redis")).toBe(1);

    await postgres.open();
    await eventually(() => up("postgres"), (value) => value === 1, { withinMs: 4_000, stepMs: 50 });
    await service.auth.listSessions({}, bearer(tokens.access));
    expect(linesOf("postgres")).toEqual([
      { msg: "store down", store: "postgres", cause: "connection_refused" },
      { msg: "store back", store: "postgres" },
    ]);
    expect(log.find((line) => line.store === "postgres" && line.msg === "store down")).toMatchObject({ detail: expect.stringContaining("ECONNREFUSED") });
  }, 20_000);
});
