/**
 * Refresh alone, for comparing two trees interleaved on this shared machine:
 * `taskset -c 1 tsx test/bench/refresh.ts [tree]` runs the service of `tree`
 * (default: this one) on real PostgreSQL and Redis, pinned to core 0, drives 64
 * refresh chains for BENCH_DURATION_S and prints one JSON line: refreshes per
 * second, p50 and p99, and commits per refresh (pg_stat_database.xact_commit of
 * the service's own database before and after, over the refreshes).
 * `BENCH_CPU_PROF=dir` runs the service with `node --cpu-prof` into that directory.
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Redis } from "ioredis";
import pg from "pg";
import { AuthService, OtpPurpose } from "../../gen/identity/v1/auth_pb.js";
import { TokenService } from "../../gen/identity/v1/token_pb.js";
import { freshPhone } from "../support/phones.js";
import { freshDatabase, REDIS_URL } from "../support/services.js";
import { startSmsInbox } from "../support/sms-inbox.js";
import { startServer } from "./server.js";
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

/** CPU time (user + system) a process has used, in ms, from /proc. */
async function cpuMs(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]!.split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

const database = await freshDatabase();
const keyPrefix = `bench:${randomBytes(4).toString("hex")}:`;
const sms = await startSmsInbox();
// startServer runs scripts/start.mjs of the working directory: the tree measured.
process.chdir(tree);
const server = await startServer(
  { DATABASE_URL: database.url, REDIS_URL, REDIS_KEY_PREFIX: keyPrefix, SMS_PROVIDER: "webhook", SMS_WEBHOOK_URL: sms.url, OTP_RESEND_INTERVAL: "0s", OTP_MAX_PER_IP_PER_HOUR: "1000000", OTP_MAX_PER_PHONE_PER_HOUR: "1000000" },
  0,
  profileDir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${profileDir}`],
);
const stats = new pg.Client({ connectionString: database.url });
await stats.connect();
try {
  const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.grpcPort}` });
  const auth = createClient(AuthService, transport);
  const token = createClient(TokenService, transport);
  const chains = await Promise.all(
    Array.from({ length: CHAINS }, async () => {
      const phone = freshPhone().e164;
      await auth.sendOtp({ phone, purpose: OtpPurpose.REGISTER });
      const { tokens } = await auth.register({ phone, code: sms.codeFor(phone, "register"), firstName: "Bench", lastName: "User" });
      return tokens!.refresh;
    }),
  );
  const step = async (worker: number) => {
    const { tokens } = await token.refresh({ refresh: chains[worker]! });
    chains[worker] = tokens!.refresh;
    return true;
  };
  await closedLoop(CHAINS, 2000, step); // warm-up: JIT, pool, caches
  const before = await commits(stats);
  const [serverCpu, clientCpu] = [await cpuMs(server.child.pid!), process.cpuUsage()];
  const result = await closedLoop(CHAINS, DURATION_S * 1000, step);
  const busy = { server: (await cpuMs(server.child.pid!)) - serverCpu, client: process.cpuUsage(clientCpu) };
  const after = await commits(stats);
  console.log(
    JSON.stringify({
      tree,
      chains: CHAINS,
      perSecond: Math.round(result.perSecond),
      p50Ms: Number(result.p50Ms.toFixed(1)),
      p99Ms: Number(result.p99Ms.toFixed(1)),
      errors: result.errors,
      // Shares of one core used during the run: which side was the bound.
      serverCpu: Number((busy.server / (DURATION_S * 1000)).toFixed(2)),
      clientCpu: Number(((busy.client.user + busy.client.system) / 1000 / (DURATION_S * 1000)).toFixed(2)),
      // The stats reader's own two statements are in the difference; negligible.
      commitsPerRefresh: Number(((after - before) / result.operations).toFixed(3)),
    }),
  );
} finally {
  await stats.end();
  await server.stop();
  await sms.close();
  await database.drop();
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${keyPrefix}*`);
  if (keys.length > 0) await redis.unlink(...keys);
  await redis.quit();
}
