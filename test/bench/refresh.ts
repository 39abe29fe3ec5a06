/**
 * Refresh alone, for comparing two trees interleaved on this shared machine:
 * `taskset -c 1 tsx test/bench/refresh.ts [tree]` runs the service of `tree`
 * (default: this one) on real PostgreSQL and Redis, pinned to core 0, drives 64
 * refresh chains for BENCH_DURATION_S and prints one JSON line: refreshes per
 * second, p50 and p99, and commits per refresh (pg_stat_database.xact_commit of
 * the service's own database before and after, over the refreshes).
 * `BENCH_CPU_PROF=dir` runs the service with `node --cpu-prof` into that directory.
 */
import { resolve } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import pg from "pg";
import { AuthService, OtpPurpose } from "../../gen/identity/v1/auth_pb.js";
import { RefreshRequestSchema, RefreshResponseSchema } from "../../gen/identity/v1/token_pb.js";
import { freshPhone } from "../support/phones.js";
import { startServer } from "./server.js";
import { benchStores } from "./stores.js";
import { startCpuBudget } from "./cpu-budget.js";
import { rawGrpcClient } from "./raw-grpc.js";
import { closedLoop } from "./workers.js";

const CHAINS = Number(process.env.BENCH_CHAINS ?? 64);
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 8);
const tree = resolve(process.argv[2] ?? ".");
const profileDir = process.env.BENCH_CPU_PROF;

/** Busy backends report their counts at most once a second, idle ones within ten:
 * wait that long so that the reading holds every commit made before it. */
async function commits(db: pg.Client): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 11_000));
  const { rows } = await db.query<{ n: string }>("SELECT xact_commit AS n FROM pg_stat_database WHERE datname = current_database()");
  return Number(rows[0]?.n ?? 0);
}

const stores = await benchStores();
const { sms } = stores;
// startServer runs scripts/start.mjs of the working directory: the tree measured.
process.chdir(tree);
const server = await startServer(
  stores.env,
  0,
  profileDir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${profileDir}`],
);
const raw = await rawGrpcClient(`http://127.0.0.1:${server.grpcPort}`);
const stats = new pg.Client({ connectionString: stores.databaseUrl });
await stats.connect();
try {
  const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.grpcPort}` });
  const auth = createClient(AuthService, transport);
  const chains = await Promise.all(
    Array.from({ length: CHAINS }, async () => {
      const phone = freshPhone().e164;
      await auth.sendOtp({ phone, purpose: OtpPurpose.REGISTER });
      const { tokens } = await auth.register({ phone, code: sms.codeFor(phone, "register"), firstName: "Bench", lastName: "User" });
      return tokens!.refresh;
    }),
  );
  const step = async (worker: number) => {
    const { tokens } = await raw.unary("/identity.v1.TokenService/Refresh", RefreshRequestSchema, RefreshResponseSchema, { refresh: chains[worker]! });
    chains[worker] = tokens!.refresh;
    return true;
  };
  await closedLoop(CHAINS, 2000, step); // warm-up: JIT, pool, caches
  const before = await commits(stats);
  const budget = await startCpuBudget(server.child.pid!);
  const result = await closedLoop(CHAINS, DURATION_S * 1000, step);
  const cpu = await budget(result.operations);
  const after = await commits(stats);
  console.log(
    JSON.stringify({
      tree,
      chains: CHAINS,
      perSecond: Math.round(result.perSecond),
      p50Ms: Number(result.p50Ms.toFixed(1)),
      p99Ms: Number(result.p99Ms.toFixed(1)),
      errors: result.errors,
      // µs of CPU per refresh by each part, and cores' worth busy: which part is the bound.
      cpu,
      // The stats reader's own two statements are in the difference; negligible.
      commitsPerRefresh: Number(((after - before) / result.operations).toFixed(3)),
    }),
  );
} finally {
  await stats.end();
  await raw.close();
  await server.stop();
  await stores.remove();
}
