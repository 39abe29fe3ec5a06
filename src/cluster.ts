/**
 * WORKERS=N: N processes share the ports through node:cluster, each a full
 * instance on the same PostgreSQL and Redis (the service keeps no state of its own,
 * so they behave as one). The primary only supervises: it restarts a worker that
 * dies, on SIGTERM/SIGINT lets every worker drain before it exits, and passes
 * SIGHUP on (each worker reads its certificates again).
 */
import cluster, { type Worker } from "node:cluster";
import type { Logger } from "pino";

/** A worker that dies this soon after starting is failing to start, not crashing. */
const EARLY_DEATH_MS = 5000;
const MAX_EARLY_DEATHS = 3;

/** `listening`: what the primary itself serves (the summed /metrics), for its start-up line. */
export function superviseWorkers(count: number, log: Logger, listening: Record<string, string | number> = {}): void {
  let stopping = false;
  let earlyDeaths = 0;
  const startedAt = new Map<Worker, number>();

  const fork = () => startedAt.set(cluster.fork(), Date.now());
  for (let i = 0; i < count; i++) fork();
  const metrics = listening.metrics === undefined ? "" : `, metrics on ${listening.metrics}`;
  log.info({ workers: count, pid: process.pid, ...listening }, `identity: supervising ${count} workers${metrics}`);

  cluster.on("exit", (worker, code, signal) => {
    const lived = Date.now() - (startedAt.get(worker) ?? 0);
    startedAt.delete(worker);
    if (stopping) {
      if (startedAt.size === 0) process.exit(0);
      return;
    }
    earlyDeaths = lived < EARLY_DEATH_MS ? earlyDeaths + 1 : 0;
    if (earlyDeaths >= MAX_EARLY_DEATHS) {
      log.fatal({ code, signal }, "workers keep dying at start; giving up");
      process.exit(1);
    }
    log.error({ pid: worker.process.pid, code, signal }, "worker died; starting another");
    setTimeout(fork, 1000).unref();
  });

  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "stopping workers");
    if (startedAt.size === 0) process.exit(0);
    for (const worker of startedAt.keys()) worker.process.kill("SIGTERM");
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGHUP", () => {
    log.info({ workers: startedAt.size }, "SIGHUP: passing it to every worker");
    for (const worker of startedAt.keys()) worker.process.kill("SIGHUP");
  });
}
