/**
 * `npm run bench`: the service on real PostgreSQL + Redis (and on the embedded
 * default), driven from a separate load generator on the other core. Prints one
 * table and writes BENCHMARKS.md. Numbers live here, never in tests.
 */
import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Redis } from "ioredis";
import pg from "pg";
import { HealthCheckRequestSchema } from "../../gen/grpc/health/v1/health_pb.js";
import { AuthService, LoginRequestSchema, LoginResponseSchema, OtpPurpose, SendOtpRequestSchema, SendOtpResponseSchema } from "../../gen/identity/v1/auth_pb.js";
import { IntrospectRequestSchema, RefreshRequestSchema, RefreshResponseSchema, TokenService, VerifyRequestSchema } from "../../gen/identity/v1/token_pb.js";
import { makeCertificates, type TestCertificates } from "../support/certs.js";
import { freshPhone } from "../support/phones.js";
import { freshDatabase, POSTGRES_ADMIN_URL, REDIS_URL } from "../support/services.js";
import { startSmsInbox, type SmsInbox } from "../support/sms-inbox.js";
import { startCpuBudget, type CpuBudget } from "./cpu-budget.js";
import { grpcFrame, h2load, wrk, type LoadResult } from "./load.js";
import { localVerifierBench } from "./local-verifier.js";
import { rawGrpcClient, type RawGrpcClient } from "./raw-grpc.js";
import { startServer, type GcSummary, type ServerProcess } from "./server.js";
import { closedLoop, type Throughput } from "./workers.js";

const SERVER_CPU = 0;
const LOAD_CPU = 1;
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 8);
const API_KEY = randomBytes(24).toString("hex");

interface Row {
  store: string;
  what: string;
  value: string;
  target?: string;
}
const rows: Row[] = [];
const record = (row: Row) => {
  rows.push(row);
  console.log(`${row.store.padEnd(9)} ${row.what.padEnd(58)} ${row.value.padEnd(36)} ${row.target ?? ""}`);
};
const rate = (r: LoadResult | Throughput) =>
  `${Math.round(r.perSecond).toLocaleString("en")}/s p50 ${r.p50Ms.toFixed(2)} ms p99 ${r.p99Ms.toFixed(2)} ms${r.errors ? ` (${r.errors} ${"unfinished" in r ? "failed or unfinished at the end" : "errors"})` : ""}`;
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
const gcText = (gc: GcSummary) =>
  `${gc.scavenges} scavenges, ${gc.markCompacts} mark-compacts${gc.others > 0 ? `, ${gc.others} other` : ""}; longest pause ${gc.longestMs.toFixed(1)} ms, ${gc.totalMs.toFixed(0)} ms in all`;

interface Running {
  server: ServerProcess;
  auth: Client<typeof AuthService>;
  token: Client<typeof TokenService>;
  /** The closed loops' client (refresh, login): far cheaper than the Connect one. */
  raw: RawGrpcClient;
  sms: SmsInbox;
  grpcUrl: string;
  httpUrl: string;
}

/** With `tls`, both ports serve that certificate and our clients trust its CA. With
 * `traceGc`, the server runs with --trace-gc and the bench reads what it collected. */
async function start(storeEnv: Record<string, string>, sms: SmsInbox, cpu: number | undefined = SERVER_CPU, tls?: TestCertificates, traceGc = false): Promise<Running> {
  const server = await startServer(
    {
      ...storeEnv,
      SMS_PROVIDER: "webhook",
      SMS_WEBHOOK_URL: sms.url,
      OTP_RESEND_INTERVAL: "0s",
      OTP_MAX_PER_IP_PER_HOUR: "1000000",
      OTP_MAX_PER_PHONE_PER_HOUR: "1000000",
      SERVICE_API_KEYS: `bench:${API_KEY}`,
      ...(tls && { TLS_CERT_FILE: tls.server.certFile, TLS_KEY_FILE: tls.server.keyFile }),
    },
    cpu,
    [],
    "node",
    tls?.ca.pem,
    traceGc,
  );
  const scheme = tls === undefined ? "http" : "https";
  const grpcUrl = `${scheme}://127.0.0.1:${server.grpcPort}`;
  const transport = createGrpcTransport({ baseUrl: grpcUrl, ...(tls && { nodeOptions: { ca: tls.ca.pem } }) });
  const raw = await rawGrpcClient(grpcUrl, 2, tls?.ca.pem);
  return { server, auth: createClient(AuthService, transport), token: createClient(TokenService, transport), raw, sms, grpcUrl, httpUrl: `${scheme}://127.0.0.1:${server.httpPort}` };
}

async function signUp(app: Running) {
  const phone = freshPhone().e164;
  await app.auth.sendOtp({ phone, purpose: OtpPurpose.REGISTER });
  const { tokens, user } = await app.auth.register({ phone, code: app.sms.codeFor(phone, "register"), firstName: "Bench", lastName: "User" });
  return { phone, tokens: tokens!, user: user! };
}

/** gRPC Verify and Introspect against a no-op RPC of the same server (Health/Check);
 * with `tail`, also each at half its peak (p99 and the collector's pauses). */
async function grpcHotPath(app: Running, store: string, { label = "", tail = true }: { label?: string; tail?: boolean } = {}): Promise<number> {
  const { tokens } = await signUp(app);
  const check = await app.token.verify({ token: tokens.access });
  if (!check.valid) throw new Error("seeded token does not verify");
  const noop = await h2load({ url: `${app.grpcUrl}/grpc.health.v1.Health/Check`, body: grpcFrame(toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema))), durationS: DURATION_S, cpu: LOAD_CPU });
  const verify = await h2load({ url: `${app.grpcUrl}/identity.v1.TokenService/Verify`, body: grpcFrame(toBinary(VerifyRequestSchema, create(VerifyRequestSchema, { token: tokens.access }))), durationS: DURATION_S, cpu: LOAD_CPU });
  record({ store, what: `no-op gRPC (Health/Check), h2load -c1 -m100${label}`, value: rate(noop) });
  record({ store, what: `gRPC Verify, h2load -c1 -m100${label}`, value: rate(verify), target: `${ratio(verify.perSecond, noop.perSecond)} of no-op (target ≥ 0.8×)` });
  if (tail) {
    const introspect = await h2load({
      url: `${app.grpcUrl}/identity.v1.TokenService/Introspect`,
      body: grpcFrame(toBinary(IntrospectRequestSchema, create(IntrospectRequestSchema, { token: tokens.access }))),
      headers: { "x-api-key": API_KEY },
      durationS: DURATION_S,
      cpu: LOAD_CPU,
    });
    record({ store, what: `gRPC Introspect (access token), h2load -c1 -m100${label}`, value: rate(introspect), target: `${ratio(introspect.perSecond, noop.perSecond)} of no-op` });
    // Latency at half the peak rate: h2load paces each client with --rps. The
    // collections the server logged (--trace-gc) over each paced run are counted.
    const half = Math.max(1, Math.floor(verify.perSecond / 2));
    const verifyMark = app.server.gcMark();
    const paced = await h2load({ url: `${app.grpcUrl}/identity.v1.TokenService/Verify`, body: grpcFrame(toBinary(VerifyRequestSchema, create(VerifyRequestSchema, { token: tokens.access }))), durationS: DURATION_S, cpu: LOAD_CPU, rps: half });
    const verifyGc = app.server.gcSince(verifyMark);
    // The framework's own floor at half its peak: what p99 the same server, pacing
    // and machine give a call that does nothing.
    const noopHalf = Math.max(1, Math.floor(noop.perSecond / 2));
    const noopMark = app.server.gcMark();
    const pacedNoop = await h2load({ url: `${app.grpcUrl}/grpc.health.v1.Health/Check`, body: grpcFrame(toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema))), durationS: DURATION_S, cpu: LOAD_CPU, rps: noopHalf });
    const noopGc = app.server.gcSince(noopMark);
    record({ store, what: `gRPC Verify at half the peak (${half.toLocaleString("en")}/s offered, h2load --rps)${label}`, value: rate(paced), target: `p99 ${ratio(paced.p99Ms, pacedNoop.p99Ms)} the no-op's at half its peak (target ≤ 2×)` });
    record({ store, what: `no-op gRPC at half its peak (${noopHalf.toLocaleString("en")}/s offered, h2load --rps)${label}`, value: rate(pacedNoop) });
    record({ store, what: `GC (--trace-gc) during Verify at half the peak (${DURATION_S + 2} s with warm-up)${label}`, value: gcText(verifyGc) });
    record({ store, what: `GC (--trace-gc) during the no-op at half its peak${label}`, value: gcText(noopGc) });
  }
  return verify.perSecond;
}

async function httpHotPath(app: Running, store: string): Promise<void> {
  const { tokens } = await signUp(app);
  const noop = await wrk({ url: `${app.httpUrl}/healthz`, durationS: DURATION_S, cpu: LOAD_CPU });
  const verify = await wrk({ url: `${app.httpUrl}/api/token/verify/`, method: "POST", body: JSON.stringify({ token: tokens.access }), headers: { "content-type": "application/json" }, durationS: DURATION_S, cpu: LOAD_CPU });
  const dashboard = await wrk({ url: `${app.httpUrl}/api/dashboard/`, headers: { authorization: `Bearer ${tokens.access}` }, durationS: DURATION_S, cpu: LOAD_CPU });
  record({ store, what: "no-op JSON route of the bridge (GET /healthz), wrk -c50", value: rate(noop) });
  record({ store, what: "POST /api/token/verify/, wrk -c50", value: rate(verify), target: `${ratio(verify.perSecond, noop.perSecond)} of no-op (target ≥ 0.5× of bare node:http)` });
  record({ store, what: "GET /api/dashboard/ (Bearer), wrk -c50", value: rate(dashboard), target: `${ratio(dashboard.perSecond, noop.perSecond)} of no-op` });
}

/**
 * Transactions committed in one database (pg_stat_database.xact_commit), read from
 * the admin database so the reading is not counted. A backend reports its counts
 * when it goes idle, at most once a second, else within 10 s (PostgreSQL's
 * PGSTAT_IDLE_INTERVAL): each reading first waits that long, so it holds every
 * commit made before it.
 */
function commitCounter(databaseUrl: string): () => Promise<number> {
  const name = new URL(databaseUrl).pathname.slice(1);
  return async () => {
    await new Promise((resolve) => setTimeout(resolve, 11_000));
    const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
    await admin.connect();
    try {
      const { rows } = await admin.query<{ commits: string }>("SELECT xact_commit AS commits FROM pg_stat_database WHERE datname = $1", [name]);
      return Number(rows[0]?.commits ?? NaN);
    } finally {
      await admin.end();
    }
  };
}

/** Commits per completed operation over `timed` (the readiness probe's few commits a
 * second included), and the CPU each part of the machine spent per operation. */
async function perOperation<T extends Throughput>(app: Running, commits: (() => Promise<number>) | undefined, timed: () => Promise<T>): Promise<{ result: T; perOp?: string; cpu: CpuBudget }> {
  const before = commits === undefined ? 0 : await commits();
  const budget = await startCpuBudget(app.server.child.pid!);
  const result = await timed();
  const cpu = await budget(result.operations);
  if (commits === undefined) return { result, cpu };
  const made = (await commits()) - before;
  return { result, cpu, perOp: `${(made / result.operations).toFixed(2)} (${made.toLocaleString("en")} commits ÷ ${result.operations.toLocaleString("en")})` };
}

/** Where the CPU of one operation went, and how busy the machine was: a rate whose
 * parts add up to every core is bound by the machine, one with idle left by waiting. */
const cpuText = (cpu: CpuBudget) =>
  `service ${cpu.serviceUs} µs, load generator ${cpu.clientUs}, PostgreSQL ${cpu.postgresUs}, Redis ${cpu.redisUs}, other ${cpu.otherUs}; ${cpu.machineCores} of ${cpu.cores} cores busy`;

async function refreshRate(app: Running, store: string, label = "", commits?: () => Promise<number>): Promise<number> {
  const chains = await Promise.all(Array.from({ length: 64 }, async () => (await signUp(app)).tokens.refresh));
  const { result, perOp, cpu } = await perOperation(app, commits, () =>
    closedLoop(64, DURATION_S * 1000, async (worker) => {
      const { tokens } = await app.raw.unary("/identity.v1.TokenService/Refresh", RefreshRequestSchema, RefreshResponseSchema, { refresh: chains[worker]! });
      chains[worker] = tokens!.refresh;
      return true;
    }),
  );
  record({ store, what: `Refresh (rotation), 64 concurrent chains, bare HTTP/2 client${label}`, value: rate(result), target: label.includes("token rows") ? undefined : "≥ 3,500/s, p99 ≤ 50 ms" });
  record({ store, what: `CPU per refresh${label}`, value: cpuText(cpu) });
  if (perOp !== undefined) record({ store, what: `PostgreSQL commits per refresh (pg_stat_database.xact_commit)${label}`, value: perOp });
  return result.perSecond;
}

async function loginRates(app: Running, store: string, label = "", commits?: () => Promise<number>): Promise<void> {
  const phones = await Promise.all(Array.from({ length: 64 }, async () => (await signUp(app)).phone));
  const full = await closedLoop(64, DURATION_S * 1000, async (worker) => {
    const phone = phones[worker]!;
    await app.raw.unary("/identity.v1.AuthService/SendOtp", SendOtpRequestSchema, SendOtpResponseSchema, { phone, purpose: OtpPurpose.LOGIN });
    await app.raw.unary("/identity.v1.AuthService/Login", LoginRequestSchema, LoginResponseSchema, { phone, code: app.sms.codeFor(phone, "login") });
    return true;
  });
  record({ store, what: `full OTP login (send + verify + issue), 64 concurrent, bare HTTP/2 client${label}`, value: rate(full) });
  // Codes sent beforehand: one per phone, many phones (a code works once).
  const batch = 4000;
  const ready: { phone: string; code: string }[] = [];
  const sent: string[] = Array.from({ length: batch }, () => freshPhone().e164);
  await closedLoop(64, 120_000, async () => {
    const phone = sent.pop();
    if (phone === undefined) return false;
    await app.auth.sendOtp({ phone, purpose: OtpPurpose.REGISTER });
    const { tokens } = await app.auth.register({ phone, code: app.sms.codeFor(phone, "register"), firstName: "", lastName: "" });
    void tokens;
    await app.auth.sendOtp({ phone, purpose: OtpPurpose.LOGIN });
    ready.push({ phone, code: app.sms.codeFor(phone, "login") });
    return true;
  });
  const { result: logins, perOp, cpu } = await perOperation(app, commits, () =>
    closedLoop(64, 120_000, async () => {
      const next = ready.pop();
      if (next === undefined) return false;
      await app.raw.unary("/identity.v1.AuthService/Login", LoginRequestSchema, LoginResponseSchema, next);
      return true;
    }),
  );
  record({ store, what: `Login with an already-sent code (${batch.toLocaleString("en")} codes), 64 concurrent, bare HTTP/2 client${label}`, value: rate(logins), target: "≥ 3,500/s, p99 ≤ 50 ms" });
  record({ store, what: `CPU per login (already-sent code)${label}`, value: cpuText(cpu) });
  if (perOp !== undefined) record({ store, what: `PostgreSQL commits per login (already-sent code)${label}`, value: perOp });
}

/** 100,000 users and 1,000,000 revoked sessions (and their refresh-token rows), in PostgreSQL and Redis. */
async function seedMillion(databaseUrl: string, keyPrefix: string): Promise<void> {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    await db.query(`INSERT INTO users (id, phone, date_joined) SELECT gen_random_uuid(), '+98936' || lpad(g::text, 7, '0'), now() FROM generate_series(1, 100000) g`);
    await db.query(`INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, current_refresh_jti, revoked_at, revoked_reason)
      SELECT 'seed-s-' || g, u.id, now() - interval '1 day', now() - interval '1 day', now() + interval '29 days', 'seed-t-' || g, now(), 'logout'
      FROM generate_series(0, 999999) g JOIN (SELECT id, (row_number() OVER ()) - 1 AS n FROM users WHERE phone LIKE '+98936%') u ON u.n = g % 100000`);
    await db.query(`INSERT INTO outstanding_tokens (jti, session_id, user_id, created_at, expires_at)
      SELECT current_refresh_jti, id, user_id, created_at, now() + interval '6 days' FROM sessions WHERE id LIKE 'seed-s-%'`);
    await db.query("ANALYZE");
    const redis = new Redis(REDIS_URL, { keyPrefix });
    const { rows } = await db.query<{ id: string; user_id: string }>(`SELECT id, user_id FROM sessions WHERE id LIKE 'seed-s-%'`);
    for (let i = 0; i < rows.length; i += 10_000) {
      const pipeline = redis.pipeline();
      for (const r of rows.slice(i, i + 10_000)) pipeline.set(`{u:${r.user_id}}:s:${r.id}`, "R", "PX", 3_600_000);
      await pipeline.exec();
    }
    await redis.quit();
  } finally {
    await db.end();
  }
}

async function realStores(): Promise<void> {
  const store = "postgres";
  const database = await freshDatabase();
  const keyPrefix = `bench:${randomBytes(4).toString("hex")}:`;
  const sms = await startSmsInbox();
  const env = { DATABASE_URL: database.url, REDIS_URL, REDIS_KEY_PREFIX: keyPrefix };
  let app = await start(env, sms, SERVER_CPU, undefined, true);
  const commits = commitCounter(database.url);
  try {
    const emptyVerify = await grpcHotPath(app, store);
    await httpHotPath(app, store);
    const emptyRefresh = await refreshRate(app, store, "", commits);
    await loginRates(app, store, "", commits);

    const rssBefore = await app.server.rssKiB();
    const { tokens } = await signUp(app);
    const million = await h2load({ url: `${app.grpcUrl}/identity.v1.TokenService/Verify`, body: grpcFrame(toBinary(VerifyRequestSchema, create(VerifyRequestSchema, { token: tokens.access }))), requests: 1_000_000, cpu: LOAD_CPU });
    const rssAfter = await app.server.rssKiB();
    record({ store, what: "RSS before → after 1,000,000 Verify calls", value: `${Math.round(rssBefore / 1024)} → ${Math.round(rssAfter / 1024)} MiB (${million.errors} errors)`, target: `${(((rssAfter - rssBefore) / rssBefore) * 100).toFixed(1)}% (target ≤ 10%)` });

    await app.server.stop();
    const seedStarted = performance.now();
    await seedMillion(database.url, keyPrefix);
    record({ store, what: "seeded 100,000 users, 1,000,000 revoked sessions + token rows", value: `${((performance.now() - seedStarted) / 1000).toFixed(1)} s` });
    app = await start(env, sms);
    const fullVerify = await grpcHotPath(app, store, { label: " (1M revoked sessions)", tail: false });
    record({ store, what: "Verify with 1M revoked sessions vs empty", value: ratio(fullVerify, emptyVerify), target: "within 5%" });
    const fullRefresh = await refreshRate(app, store, " (1M token rows)");
    record({ store, what: "Refresh with 1M outstanding-token rows vs empty", value: ratio(fullRefresh, emptyRefresh), target: "within 20%" });

    // Two workers on two cores, the generator sharing them (only two cores here).
    await app.server.stop();
    app = await start({ ...env, WORKERS: "2" }, sms, undefined);
    const { tokens: workerTokens } = await signUp(app);
    const workers = await h2load({ url: `${app.grpcUrl}/identity.v1.TokenService/Verify`, body: grpcFrame(toBinary(VerifyRequestSchema, create(VerifyRequestSchema, { token: workerTokens.access }))), durationS: DURATION_S, connections: 2, streams: 50 });
    record({ store, what: "gRPC Verify, WORKERS=2 unpinned, h2load -c2 -m50 (shares the cores)", value: rate(workers), target: `${ratio(workers.perSecond, fullVerify)} of one pinned worker` });
  } finally {
    await app.server.stop();
    await sms.close();
    await database.drop();
    await dropKeys(keyPrefix);
  }
}

/**
 * The rows that depend on the signing algorithm, again with HS256 and EdDSA (the
 * stores table runs ES256, the default): refresh and login sign two tokens each
 * and refresh verifies one. Verify checks a token's signature once and then answers
 * from the verified-token cache, so only HS256 runs its rows again, to show that.
 * PostgreSQL and Redis, a fresh database each.
 */
async function algorithms(): Promise<void> {
  const store = "postgres";
  for (const [algorithm, verifyRows] of [["HS256", true], ["EdDSA", false]] as const) {
    const database = await freshDatabase();
    const keyPrefix = `bench:${randomBytes(4).toString("hex")}:`;
    const sms = await startSmsInbox();
    const app = await start({ DATABASE_URL: database.url, REDIS_URL, REDIS_KEY_PREFIX: keyPrefix, JWT_ALGORITHM: algorithm }, sms, SERVER_CPU, undefined, verifyRows);
    try {
      const label = `, ${algorithm}`;
      if (verifyRows) await grpcHotPath(app, store, { label });
      await refreshRate(app, store, label);
      await loginRates(app, store, label);
    } finally {
      await app.server.stop();
      await sms.close();
      await database.drop();
      await dropKeys(keyPrefix);
    }
  }
}

/** The shared Redis is the tests' too: leave none of the bench's million keys behind. */
async function dropKeys(keyPrefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${keyPrefix}*`, "COUNT", 10_000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== "0");
  } finally {
    await redis.quit();
  }
}

/** Somewhere to send spans: takes every OTLP export and answers 200 (the collector's
 * cost is not the service's), counting what arrived. */
async function otlpSink(): Promise<{ url: string; bytes: () => number; close: () => Promise<void> }> {
  let bytes = 0;
  const server = http.createServer((req, res) => {
    req.on("data", (chunk: Buffer) => (bytes += chunk.length));
    req.on("end", () => res.writeHead(200, { "content-type": req.headers["content-type"] ?? "application/x-protobuf" }).end());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, bytes: () => bytes, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/**
 * What metrics and traces cost the hot path (issue 12): gRPC Verify and
 * /api/token/verify/ with METRICS_PORT=off, with metrics on (the default), and with
 * tracing sampled at 100 % and at 1 %. This machine's speed drifts by a third within
 * a minute (a shared VM), so settings are compared in interleaved pairs (off and on three times, on and
 * tracing twice each, the first of a pair alternating) and each comparison is the
 * median of its pairs' ratios, not a ratio of means.
 */
async function observabilityCost(): Promise<void> {
  const store = "postgres";
  const database = await freshDatabase();
  const keyPrefix = `bench:${randomBytes(4).toString("hex")}:`;
  const sms = await startSmsInbox();
  const sink = await otlpSink();
  const tracing = (ratio: string) => ({ METRICS_PORT: "0", OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_TRACES_SAMPLER: "parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG: ratio });
  const settings = {
    "metrics off": { METRICS_PORT: "off" },
    "metrics on": { METRICS_PORT: "0" },
    "tracing 100 %": tracing("1"),
    "tracing 1 %": tracing("0.01"),
  } satisfies Record<string, Record<string, string>>;
  type Setting = keyof typeof settings;
  const measure = async (setting: Setting, run: number): Promise<{ grpc: number; http: number }> => {
    const app = await start({ DATABASE_URL: database.url, REDIS_URL, REDIS_KEY_PREFIX: keyPrefix, ...settings[setting] }, sms);
    try {
      const { tokens } = await signUp(app);
      const grpc = await h2load({ url: `${app.grpcUrl}/identity.v1.TokenService/Verify`, body: grpcFrame(toBinary(VerifyRequestSchema, create(VerifyRequestSchema, { token: tokens.access }))), durationS: DURATION_S, cpu: LOAD_CPU });
      const api = await wrk({ url: `${app.httpUrl}/api/token/verify/`, method: "POST", body: JSON.stringify({ token: tokens.access }), headers: { "content-type": "application/json" }, durationS: DURATION_S, cpu: LOAD_CPU });
      record({ store, what: `gRPC Verify, ${setting} (run ${run})`, value: rate(grpc) });
      record({ store, what: `POST /api/token/verify/, ${setting} (run ${run})`, value: rate(api) });
      return { grpc: grpc.perSecond, http: api.perSecond };
    } finally {
      await app.server.stop();
    }
  };
  const median = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = sorted.length / 2;
    return Number.isInteger(mid) ? (sorted[mid - 1]! + sorted[mid]!) / 2 : sorted[Math.floor(mid)]!;
  };
  /** `pairs` interleaved runs of base then other; the median of other/base per surface. */
  const compare = async (base: Setting, other: Setting, pairs: number) => {
    const ratios = { grpc: [] as number[], http: [] as number[] };
    for (let i = 1; i <= pairs; i++) {
      // Which goes first alternates, so a drift within a pair favours neither.
      let a: { grpc: number; http: number };
      let b: { grpc: number; http: number };
      if (i % 2 === 1) {
        a = await measure(base, i);
        b = await measure(other, i);
      } else {
        b = await measure(other, i);
        a = await measure(base, i);
      }
      ratios.grpc.push(b.grpc / a.grpc);
      ratios.http.push(b.http / a.http);
    }
    return { grpc: median(ratios.grpc), http: median(ratios.http), all: ratios };
  };
  try {
    const metrics = await compare("metrics off", "metrics on", 3);
    const full = await compare("metrics on", "tracing 100 %", 2);
    const sampled = await compare("metrics on", "tracing 1 %", 2);
    const spread = (values: number[]) => values.map((v) => v.toFixed(2)).join(", ");
    for (const key of ["grpc", "http"] as const) {
      const surface = key === "grpc" ? "gRPC Verify" : "POST /api/token/verify/";
      record({ store, what: `${surface}: metrics on vs off (median of 3 interleaved pairs: ${spread(metrics.all[key])})`, value: `${metrics[key].toFixed(2)}×`, target: "within 5% (≥ 0.95×)" });
      record({ store, what: `${surface}: tracing 100 % vs metrics on (pairs: ${spread(full.all[key])})`, value: `${full[key].toFixed(2)}×` });
      record({ store, what: `${surface}: tracing 1 % vs metrics on (pairs: ${spread(sampled.all[key])})`, value: `${sampled[key].toFixed(2)}×` });
    }
    record({ store, what: "OTLP bytes received by the sink (all tracing runs)", value: `${Math.round(sink.bytes() / 1024).toLocaleString("en")} KiB` });
  } finally {
    await sink.close();
    await sms.close();
    await database.drop();
    await dropKeys(keyPrefix);
  }
}

/**
 * What TLS costs the hot path (issue 14): gRPC Verify (h2load, h2 by ALPN) and
 * /api/token/verify/ (wrk, HTTP/1.1) in plaintext and over TLS 1.3 with an EC P-256
 * certificate, on connections kept open (the handshake is paid once per connection,
 * so this is the per-request cost of encryption). Each setting runs twice, interleaved.
 */
async function tlsCost(): Promise<void> {
  const store = "postgres";
  const database = await freshDatabase();
  const keyPrefix = `bench:${randomBytes(4).toString("hex")}:`;
  const [sms, certs] = await Promise.all([startSmsInbox(), makeCertificates()]);
  const settings = [
    { name: "plaintext", tls: undefined },
    { name: "TLS", tls: certs },
    { name: "plaintext (again)", tls: undefined },
    { name: "TLS (again)", tls: certs },
  ];
  const results = new Map<string, { grpc: number; http: number }>();
  try {
    for (const setting of settings) {
      const app = await start({ DATABASE_URL: database.url, REDIS_URL, REDIS_KEY_PREFIX: keyPrefix }, sms, SERVER_CPU, setting.tls);
      try {
        const { tokens } = await signUp(app);
        const grpc = await h2load({ url: `${app.grpcUrl}/identity.v1.TokenService/Verify`, body: grpcFrame(toBinary(VerifyRequestSchema, create(VerifyRequestSchema, { token: tokens.access }))), durationS: DURATION_S, cpu: LOAD_CPU });
        const api = await wrk({ url: `${app.httpUrl}/api/token/verify/`, method: "POST", body: JSON.stringify({ token: tokens.access }), headers: { "content-type": "application/json" }, durationS: DURATION_S, cpu: LOAD_CPU });
        results.set(setting.name, { grpc: grpc.perSecond, http: api.perSecond });
        record({ store, what: `gRPC Verify, h2load -c1 -m100, ${setting.name}`, value: rate(grpc) });
        record({ store, what: `POST /api/token/verify/ (wrk, HTTP/1.1), ${setting.name}`, value: rate(api) });
      } finally {
        await app.server.stop();
      }
    }
    const mean = (a: string, b: string, key: "grpc" | "http") => (results.get(a)![key] + results.get(b)![key]) / 2;
    for (const key of ["grpc", "http"] as const) {
      const surface = key === "grpc" ? "gRPC Verify" : "POST /api/token/verify/";
      record({ store, what: `${surface}: TLS vs plaintext (means of two runs each)`, value: ratio(mean("TLS", "TLS (again)", key), mean("plaintext", "plaintext (again)", key)) });
    }
  } finally {
    await sms.close();
    await certs.remove();
    await database.drop();
    await dropKeys(keyPrefix);
  }
}

/**
 * `identity import-django` of 1,000,000 Django users (plus 10,000 blacklisted refresh
 * tokens) from an accounts_user-shaped table made with generate_series, into an
 * empty database, run as operators run it (its own process, progress on stderr);
 * then the same again, which finds every user unchanged.
 */
async function importCost(): Promise<void> {
  const store = "postgres";
  const users = 1_000_000;
  const [source, target] = await Promise.all([freshDatabase(), freshDatabase()]);
  try {
    const db = new pg.Client({ connectionString: source.url });
    await db.connect();
    try {
      // One row in a thousand has a phone no one can parse, as real tables do.
      await db.query(`CREATE TABLE accounts_user (id integer PRIMARY KEY, password varchar(128) NOT NULL DEFAULT '', last_login timestamptz,
        is_superuser boolean NOT NULL DEFAULT false, phone varchar(11) NOT NULL UNIQUE, first_name varchar(150) NOT NULL, last_name varchar(150) NOT NULL,
        is_staff boolean NOT NULL, is_active boolean NOT NULL, date_joined timestamptz NOT NULL)`);
      await db.query(`INSERT INTO accounts_user (id, phone, first_name, last_name, is_staff, is_active, date_joined, last_login)
        SELECT g, CASE WHEN g % 1000 = 0 THEN 'x' || g ELSE '0912' || lpad(g::text, 7, '0') END, 'First ' || g, 'Last ' || g,
               g % 500 = 0, g % 50 <> 0, '2015-01-01'::timestamptz + g * interval '1 minute', CASE WHEN g % 3 = 0 THEN NULL ELSE now() - g * interval '1 second' END
        FROM generate_series(1, ${users}) g`);
      await db.query(`CREATE TABLE token_blacklist_outstandingtoken (id bigserial PRIMARY KEY, token text NOT NULL, created_at timestamptz, expires_at timestamptz NOT NULL,
        user_id integer REFERENCES accounts_user (id), jti varchar(255) NOT NULL UNIQUE)`);
      await db.query(`CREATE TABLE token_blacklist_blacklistedtoken (id bigserial PRIMARY KEY, blacklisted_at timestamptz NOT NULL,
        token_id bigint NOT NULL UNIQUE REFERENCES token_blacklist_outstandingtoken (id))`);
      await db.query(`INSERT INTO token_blacklist_outstandingtoken (token, created_at, expires_at, user_id, jti)
        SELECT '', now(), now() + interval '7 days', g, md5(g::text) FROM generate_series(1, 100000) g`);
      await db.query(`INSERT INTO token_blacklist_blacklistedtoken (blacklisted_at, token_id) SELECT now(), id FROM token_blacklist_outstandingtoken WHERE id % 10 = 0`);
      await db.query("ANALYZE");
    } finally {
      await db.end();
    }
    for (const run of ["first run, into an empty database", "second run, every user unchanged"]) {
      const started = performance.now();
      const summary = await new Promise<string>((resolve, reject) => {
        execFile(process.execPath, ["bin/identity.mjs", "import-django", "--source-url", source.url], { env: { PATH: process.env.PATH ?? "", DATABASE_URL: target.url }, maxBuffer: 1 << 20 }, (error, stdout) =>
          error === null ? resolve(stdout.split("\n", 1)[0] ?? "") : reject(error),
        ).stderr?.pipe(process.stderr);
      });
      const seconds = (performance.now() - started) / 1000;
      console.log(`          ${summary}`);
      record({ store, what: `import-django of ${users.toLocaleString("en")} users, ${run}`, value: `${Math.round(users / seconds).toLocaleString("en")} rows/s (${seconds.toFixed(0)} s)`, target: "minutes, not hours" });
    }
  } finally {
    await Promise.all([source.drop(), target.drop()]);
  }
}

async function embedded(): Promise<void> {
  const store = "embedded";
  const dataDir = await mkdtemp(join(os.tmpdir(), "bench-embedded-"));
  const sms = await startSmsInbox();
  try {
    let app = await start({ DATA_DIR: dataDir }, sms);
    record({ store, what: "first start to ready (creates the database)", value: `${Math.round(app.server.readyMs)} ms` });
    await app.server.stop();
    // `npm start` itself, npm's own start-up included; the median of five.
    const starts: number[] = [];
    for (let i = 0; i < 5; i++) {
      const server = await startServer({ DATA_DIR: dataDir, SMS_PROVIDER: "webhook", SMS_WEBHOOK_URL: sms.url }, SERVER_CPU, [], "npm");
      starts.push(server.readyMs);
      await server.stop();
    }
    starts.sort((a, b) => a - b);
    record({ store, what: "npm start to ready (existing DATA_DIR), median of 5", value: `${Math.round(starts[2]!)} ms (${Math.round(starts[0]!)}–${Math.round(starts[4]!)})`, target: "≤ 2,000 ms" });
    app = await start({ DATA_DIR: dataDir }, sms, SERVER_CPU, undefined, true);
    try {
      await grpcHotPath(app, store);
      await httpHotPath(app, store);
      await refreshRate(app, store);
    } finally {
      await app.server.stop();
    }
  } finally {
    await sms.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

function versions(): Record<string, string> {
  const version = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { encoding: "utf8" }).split("\n")[0]!.trim();
    } catch {
      return "not found";
    }
  };
  return {
    cpu: `${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}`,
    memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    node: process.version,
    postgres: version("psql", ["--version"]),
    redis: version("redis-server", ["--version"]),
    h2load: version("h2load", ["--version"]),
    // wrk has no version flag that exits 0; ask the package manager.
    wrk: version("dpkg-query", ["-W", "-f", "${Version}", "wrk"]),
  };
}

function requireTools(): void {
  for (const [tool, pkg] of [["h2load", "nghttp2-client"], ["wrk", "wrk"], ["taskset", "util-linux"]] as const) {
    try {
      execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
    } catch {
      throw new Error(`${tool} is missing: apt-get install -y ${pkg}`);
    }
  }
}

async function main(): Promise<void> {
  requireTools();
  const started = performance.now();
  console.log(`server pinned to CPU ${SERVER_CPU}, load generators to CPU ${LOAD_CPU}; ${DURATION_S} s per measurement\n`);
  // BENCH_ONLY=observability (or algorithms, tls, import, stores, embedded) runs that part alone (the rest takes minutes).
  const only = process.env.BENCH_ONLY;
  if (only === undefined || only === "stores") await realStores();
  if (only === undefined || only === "algorithms") await algorithms();
  if (only === undefined || only === "observability") await observabilityCost();
  if (only === undefined || only === "tls") await tlsCost();
  if (only === undefined || only === "embedded") await embedded();
  if (only === undefined || only === "import") await importCost();
  if (only === undefined || only === "verifier") await localVerifierBench(record);
  if (only !== undefined) {
    console.log(`\nBENCH_ONLY=${only}: BENCHMARKS.md is left as it is (it holds whole runs only)`);
    return;
  }
  const machine = versions();
  const table = ["| stores | measurement | result | vs target |", "|---|---|---|---|", ...rows.map((r) => `| ${r.store} | ${r.what} | ${r.value} | ${r.target ?? ""} |`)].join("\n");
  const measured = `<!-- bench:begin (written by npm run bench; edit outside these markers) -->
Measured by \`npm run bench\` (test/bench/) on ${new Date().toISOString().slice(0, 10)}, in ${Math.round((performance.now() - started) / 1000)} s.
The server runs as its own process pinned to CPU ${SERVER_CPU} (\`taskset\`), with LOG_LEVEL=warn; the load
generators run on CPU ${LOAD_CPU}: h2load for gRPC (a prepared length-prefixed frame,
\`content-type: application/grpc\`), wrk for HTTP, and a Node gRPC client in closed loops
for refresh and login (each consumes what it sends). Durability is PostgreSQL's default
(\`synchronous_commit=on\`, fsync on). Each timed run lasts ${DURATION_S} s after a 2 s warm-up;
h2load counts the streams still in flight when time is up as failed. Tokens are signed
with JWT_ALGORITHM ES256 (the default) unless a row names another. The servers whose
GC rows are shown run with \`--trace-gc\` (each collection is a line on stdout, read
by the bench); each pause is V8's own figure for it. Commits are
\`pg_stat_database.xact_commit\` of the service's database, read after PostgreSQL's
10 s statistics delay before and after the timed run, divided by the operations
completed in it.

Machine: ${Object.entries(machine).map(([k, v]) => `${k} ${v}`).join("; ")}.

${table}
<!-- bench:end -->`;
  // The analysis around the measured table is kept; only the table is rewritten.
  const previous = await readFile("BENCHMARKS.md", "utf8").catch(() => "");
  const markers = /<!-- bench:begin[\s\S]*<!-- bench:end -->/;
  await writeFile("BENCHMARKS.md", markers.test(previous) ? previous.replace(markers, () => measured) : `# Benchmarks\n\n${measured}\n`);
  console.log(`\nwrote BENCHMARKS.md (${Math.round((performance.now() - started) / 1000)} s)`);
}

void POSTGRES_ADMIN_URL;
main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
