/**
 * `npm start`: configuration from the environment, servers up, drain on signals.
 * SERVICE_ROLE picks what runs: `all` (gRPC and the HTTP bridge in one process, on
 * one identity), `grpc`, or `bridge` (the HTTP bridge calling GRPC_UPSTREAM).
 * SIGHUP reads the TLS certificates again (rotation without a restart).
 */
import cluster from "node:cluster";
import type { Logger } from "pino";
import { superviseWorkers } from "./cluster.js";
import { inProcess, metricsObserver, startBridge } from "../bridge/index.js";
import { type Config, ConfigError, loadConfig, plaintextWarning } from "./config.js";
import { ReloadableTls } from "./lib/tls.js";
import { createLogger, startGrpcApp } from "./app.js";
import type { ServiceMetrics } from "./observability/metrics.js";
import type { MetricsRole, ProcessMetrics } from "./observability/start-metrics.js";
import type { Tracing } from "./observability/tracing/tracing.js";
import { InstanceLockError } from "./store/instance-lock.js";

interface Running {
  /** What the start-up log line says (ports as numbers, so tools can read them). */
  listening: Record<string, string | number>;
  stop(graceMs: number): Promise<void>;
}

/** What watches the service: METRICS_PORT's series (unless `off`) and traces (when
 * an OTLP endpoint is set). Either may be absent; then nothing of it is loaded. */
interface Observability {
  metrics: ServiceMetrics | undefined;
  tracing: Tracing | undefined;
}

/** METRICS_PORT's series and endpoint, or undefined when it is `off`: only then is
 * prom-client loaded (this import is the one way to it from here). */
async function startMetrics(config: Config, log: Logger, role: MetricsRole): Promise<ProcessMetrics | undefined> {
  if (config.metricsPort === undefined) return undefined;
  const { startMetrics } = await import("./observability/start-metrics.js");
  return startMetrics({ host: config.host, port: config.metricsPort }, log, role);
}

/** The certificates this process serves and presents, each read again on SIGHUP. */
interface Certificates {
  /** TLS_CERT_FILE, TLS_KEY_FILE, TLS_CLIENT_CA_FILE: one copy for both servers. */
  server: ReloadableTls | undefined;
  /** GRPC_UPSTREAM_CA_FILE, GRPC_CLIENT_CERT_FILE, GRPC_CLIENT_KEY_FILE (SERVICE_ROLE=bridge). */
  upstream: ReloadableTls | undefined;
}

/** Reads the files now: a missing, unreadable or mismatched one stops start-up (ConfigError). */
function readCertificates(config: Config): Certificates {
  return {
    server: config.tls && new ReloadableTls(config.tls),
    upstream: config.serviceRole === "bridge" && config.upstreamTls ? new ReloadableTls(config.upstreamTls) : undefined,
  };
}

/** One line per set of files: reloaded, or refused with the old certificate kept. */
function reloadCertificates(certificates: Certificates, log: Logger): void {
  const sets = Object.entries(certificates).filter((entry): entry is [string, ReloadableTls] => entry[1] !== undefined);
  if (sets.length === 0) log.info("SIGHUP: no TLS certificates to reload");
  for (const [name, tls] of sets) {
    const outcome = tls.reload();
    // The pid tells the workers' lines apart (WORKERS>1: each reloads).
    if (outcome.ok) log.info({ certificates: name, fingerprint: outcome.fingerprint, changed: outcome.changed, pid: process.pid }, `TLS ${name} certificates reloaded`);
    else log.error({ certificates: name, fingerprint: outcome.kept, pid: process.pid }, `TLS ${name} certificates not reloaded, the ones in use stay: ${outcome.problem}`);
  }
}

/** Around each bridge request: the route's span outermost, so the time it records
 * holds the metrics' too. */
const observersOf = ({ metrics, tracing }: Observability) => [...(tracing === undefined ? [] : [tracing.requests]), ...(metrics === undefined ? [] : [metricsObserver(metrics)])];

async function startGrpc(config: Config, log: Logger, watch: Observability, certificates: Certificates, withBridge: boolean): Promise<Running> {
  const app = await startGrpcApp(config, { logger: log, metrics: watch.metrics, tracing: watch.tracing, tls: certificates.server });
  const grpc = { grpc: `${config.host}:${app.grpc.port}`, grpcPort: app.grpc.port, database: app.db.kind, cache: config.kv.kind === "redis" ? "redis" : "in-process" };
  if (!withBridge) return { listening: grpc, stop: (graceMs) => app.shutdown(graceMs) };
  try {
    const bridge = await startBridge({ config, log, upstream: inProcess(app), observers: observersOf(watch), tls: certificates.server });
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

async function startBridgeOnly(config: Config, log: Logger, watch: Observability, certificates: Certificates): Promise<Running> {
  // loadConfig refuses SERVICE_ROLE=bridge without GRPC_UPSTREAM.
  const upstream = config.grpcUpstream!;
  const bridge = await startBridge({
    config,
    log,
    upstream: { kind: "grpc", baseUrl: upstream, interceptors: watch.tracing && [watch.tracing.upstream], tls: certificates.upstream },
    observers: observersOf(watch),
    tls: certificates.server,
  });
  return { listening: { http: bridge.url, httpPort: bridge.port, upstream }, stop: (graceMs) => bridge.close(graceMs) };
}

async function main(): Promise<void> {
  const started = performance.now();
  const config = loadConfig();
  // Read in the primary too, so that a bad file stops start-up once, not in each worker.
  const certificates = readCertificates(config);
  const clustered = config.workers > 1;
  if (clustered && cluster.isPrimary) {
    // WORKERS>1: the primary serves /metrics, summing what the workers record; it
    // serves no calls, so it traces nothing.
    const log = createLogger(config);
    warnOfPlaintext(config, log);
    const served = await startMetrics(config, log, "primary");
    return superviseWorkers(config.workers, log, served?.listening);
  }
  // Before anything is built, since the seams are wrapped as they are made; loaded
  // only when on, so that otherwise nothing of OpenTelemetry is.
  const tracing: Tracing | undefined = config.tracing ? (await import("./observability/tracing/start.js")).startTracing() : undefined;
  const log = createLogger(config, tracing?.logFields);
  if (!clustered) warnOfPlaintext(config, log);
  const observed = await startMetrics(config, log, clustered ? "worker" : "process");
  const watch: Observability = { metrics: observed?.metrics, tracing };
  const running = config.serviceRole === "bridge" ? await startBridgeOnly(config, log, watch, certificates) : await startGrpc(config, log, watch, certificates, config.serviceRole === "all");
  const listening = { ...running.listening, ...observed?.listening };
  const where = [listening.grpc && `gRPC on ${listening.grpc}`, listening.http && `HTTP on ${listening.http}`, listening.metrics && `metrics on ${listening.metrics}`].filter(Boolean).join(", ");
  log.info({ role: config.serviceRole, pid: process.pid, ...listening, startupMs: Math.round(performance.now() - started) }, `identity listening: ${where}`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "draining in-flight calls");
    // /metrics last, so a scrape still sees the drain; the spans of the drained calls
    // are exported before the process goes.
    void running
      .stop(10_000)
      .then(
        () => 0,
        () => 1,
      )
      .then(async (code) => {
        await observed?.close(1_000).catch(() => {});
        await tracing?.shutdown().catch((error: unknown) => log.warn({ err: error }, "spans not exported"));
        process.exit(code);
      });
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGHUP", () => reloadCertificates(certificates, log));
}

function warnOfPlaintext(config: Config, log: Logger): void {
  const warning = plaintextWarning(config);
  if (warning !== undefined) log.warn({ host: config.host }, warning);
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
