/**
 * Login with an already-sent code alone, on real PostgreSQL + Redis: logins/s, p50
 * and p99 at 64 in flight, and commits per login (pg_stat_database.xact_commit of
 * the service's database before and after, divided by the logins). For before/after
 * comparisons on a shared machine: LOGIN_BENCH_ROOT names the checkout whose
 * `scripts/start.mjs` is run (default: this one), so runs of two builds interleave.
 *
 *   taskset -c 1 npx tsx test/bench/login.ts
 *   LOGIN_BENCH_ROOT=/tmp/base LOGIN_BENCH_CODES=8000 taskset -c 1 npx tsx test/bench/login.ts
 */
import { setTimeout as sleep } from "node:timers/promises";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import pg from "pg";
import { AuthService, LoginRequestSchema, LoginResponseSchema, OtpPurpose } from "../../gen/identity/v1/auth_pb.js";
import { startCpuBudget } from "./cpu-budget.js";
import { rawGrpcClient } from "./raw-grpc.js";
import { startServer } from "./server.js";
import { benchStores } from "./stores.js";
import { closedLoop } from "./workers.js";

const CODES = Number(process.env.LOGIN_BENCH_CODES ?? 6000);
const WARMUP = 500;
const CONCURRENCY = 64;
// Backends flush their statistics when idle at most every 10 s (PostgreSQL 15).
const STATS_SETTLE_MS = 11_000;

if (process.env.LOGIN_BENCH_ROOT !== undefined) process.chdir(process.env.LOGIN_BENCH_ROOT);

const stores = await benchStores();
const { sms } = stores;
const server = await startServer(stores.env, 0);
const auth = createClient(AuthService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.grpcPort}` }));
// The logins themselves go through the bare client: the Connect one costs the load
// generator's core about as much CPU per call as the service spends.
const raw = await rawGrpcClient(`http://127.0.0.1:${server.grpcPort}`);
const db = new pg.Client({ connectionString: stores.databaseUrl });
await db.connect();
try {
  const base = Math.floor(Math.random() * 1_000_000);
  const phones = Array.from({ length: WARMUP + CODES }, (_, i) => `+98935${String(base + i).padStart(7, "0")}`);
  await db.query(`INSERT INTO users (id, phone, date_joined) SELECT gen_random_uuid(), p, now() FROM unnest($1::text[]) p`, [phones]);
  const ready: { phone: string; code: string }[] = [];
  const unsent = [...phones];
  const sends = await closedLoop(CONCURRENCY, 600_000, async () => {
    const phone = unsent.pop();
    if (phone === undefined) return false;
    await auth.sendOtp({ phone, purpose: OtpPurpose.LOGIN });
    ready.push({ phone, code: sms.codeFor(phone, "login") });
    return true;
  });
  // Why logins failed (a saturated machine shows as time-outs), by message.
  const failures = new Map<string, number>();
  // A code that could not be sent (the SMS stand-in timing out on a loaded machine) is one login fewer.
  if (sends.errors > 0) console.log(`${sends.errors} codes not sent`);
  const loginLoop = (count: number) => {
    let left = count;
    return closedLoop(CONCURRENCY, 600_000, async () => {
      const next = ready.pop();
      if (left-- <= 0 || next === undefined) return false;
      try {
        await raw.unary("/identity.v1.AuthService/Login", LoginRequestSchema, LoginResponseSchema, next);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        failures.set(message, (failures.get(message) ?? 0) + 1);
        throw error;
      }
      return true;
    });
  };
  await loginLoop(WARMUP);
  const commits = async () => {
    const { rows } = await db.query<{ n: string }>(`SELECT xact_commit AS n FROM pg_stat_database WHERE datname = current_database()`);
    return Number(rows[0]!.n);
  };
  await sleep(STATS_SETTLE_MS);
  const before = await commits();
  const started = performance.now();
  const budget = await startCpuBudget(server.child.pid!);
  const result = await loginLoop(CODES);
  const cpu = await budget(result.operations);
  await sleep(STATS_SETTLE_MS);
  const windowS = (performance.now() - started) / 1000;
  const after = await commits();
  // The readiness probe commits about once a second; our own SELECT once.
  const perLogin = (after - before - Math.round(windowS) - 1) / result.operations;
  console.log(
    `login (already-sent code), ${CONCURRENCY} in flight: ${Math.round(result.perSecond)}/s p50 ${result.p50Ms.toFixed(1)} ms p99 ${result.p99Ms.toFixed(1)} ms` +
      ` (${result.operations} logins, ${result.errors} errors); commits per login ${perLogin.toFixed(3)} (${after - before} in ${windowS.toFixed(1)} s)`,
  );
  console.log("CPU per login (µs) and cores busy:", JSON.stringify(cpu));
  if (failures.size > 0) console.log("failures:", Object.fromEntries(failures));
} finally {
  await raw.close();
  await db.end();
  await server.stop();
  await stores.remove();
}
