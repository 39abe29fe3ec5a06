/**
 * `npm start`: configuration from the environment, servers up, drain on signals.
 * SERVICE_ROLE picks what runs: `all` (gRPC and the HTTP bridge in one process, on
 * one identity), `grpc`, or `bridge` (the HTTP bridge calling GRPC_UPSTREAM).
 */
import cluster from "node:cluster";
import type { Logger } from "pino";
import { superviseWorkers } from "./cluster.js";
import { inProcess, startBridge } from "../bridge/index.js";
import { type Config, ConfigError, loadConfig } from "./config.js";
import { createLogger, startGrpcApp } from "./app.js";
import type { Tracing } from "./observability/tracing/tracing.js";
import { InstanceLockError } from "./store/instance-lock.js";

interface Running {
  /** What the start-up log line says (ports as numbers, so tools can read them). */
  listening: Record<string, string | number>;
  stop(graceMs: number): Promise<void>;
}

async function startGrpc(config: Config, log: Logger, tracing: Tracing | undefined, withBridge: boolean): Promise<Running> {
  const app = await startGrpcApp(config, { logger: log, tracing });
  const grpc = { grpc: `${config.host}:${app.grpc.port}`, grpcPort: app.grpc.port, database: app.db.kind, cache: config.kv.kind === "redis" ? "redis" : "in-process" };
  if (!withBridge) return { listening: grpc, stop: (graceMs) => app.shutdown(graceMs) };
  try {
    const bridge = await startBridge({ config, log, upstream: inProcess(app), observers: tracing && [tracing.requests] });
    return {
      listening: { ...grpc, http: bridge.url, httpPort: bridge.port },
      async stop(graceMs) {
        await Promise.all([bridge.close(graceMs), app.grpc.shutdown(graceMs)]);
        await app.close();
      },
    };
  } catch (error) {
    await app.shutdown(0);
    throw error;
  }
}

async function startBridgeOnly(config: Config, log: Logger, tracing: Tracing | undefined): Promise<Running> {
  // loadConfig refuses SERVICE_ROLE=bridge without GRPC_UPSTREAM.
  const upstream = config.grpcUpstream!;
  const bridge = await startBridge({
    config,
    log,
    upstream: { kind: "grpc", baseUrl: upstream, interceptors: tracing && [tracing.upstream] },
    observers: tracing && [tracing.requests],
  });
  return { listening: { http: bridge.url, httpPort: bridge.port, upstream }, stop: (graceMs) => bridge.close(graceMs) };
}

async function main(): Promise<void> {
  const started = performance.now();
  const config = loadConfig();
  if (config.workers > 1 && cluster.isPrimary) return superviseWorkers(config.workers, createLogger(config));
  // Before anything is built, since the seams are wrapped as they are made; loaded
  // only when on, so that otherwise nothing of OpenTelemetry is.
  const tracing: Tracing | undefined = config.tracing ? (await import("./observability/tracing/start.js")).startTracing() : undefined;
  const log = createLogger(config, tracing?.logFields);
  const running =
    config.serviceRole === "bridge" ? await startBridgeOnly(config, log, tracing) : await startGrpc(config, log, tracing, config.serviceRole === "all");
  const where = [running.listening.grpc && `gRPC on ${running.listening.grpc}`, running.listening.http && `HTTP on ${running.listening.http}`].filter(Boolean).join(", ");
  log.info({ role: config.serviceRole, pid: process.pid, ...running.listening, startupMs: Math.round(performance.now() - started) }, `identity listening: ${where}`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "draining in-flight calls");
    void running
      .stop(10_000)
      .then(
        () => 0,
        () => 1,
      )
      .then(async (code) => {
        // The spans of the drained calls are exported before the process goes.
        await tracing?.shutdown().catch((error: unknown) => log.warn({ err: error }, "spans not exported"));
        process.exit(code);
      });
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

main().catch((error: unknown) => {
  // Configuration problems are one clear line; anything else is a bug worth a stack.
  // (A KeyError, a key that cannot be used, is a ConfigError too.)
  if (error instanceof ConfigError || error instanceof InstanceLockError) {
    process.stderr.write(`identity: cannot start: ${error.message}\n`);
  } else {
    process.stderr.write(`identity: cannot start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  }
  process.exit(1);
});
