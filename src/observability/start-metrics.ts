/**
 * METRICS_PORT on: the process's series and, unless a cluster primary serves them,
 * its own /metrics endpoint. main.ts imports this module only then, so with
 * METRICS_PORT=off prom-client is never loaded.
 */
import type { Logger } from "pino";
import { createServiceMetrics, type ServiceMetrics } from "./metrics.js";
import { serveMetrics, type MetricsSource } from "./metrics-server.js";
import { reportToPrimary, workersMetrics } from "./cluster-metrics.js";

/** `process`: one instance serving its own; `primary`/`worker`: WORKERS>1. */
export type MetricsRole = "process" | "primary" | "worker";

export interface ProcessMetrics {
  /** What this process records into; none in a cluster primary, which serves no calls. */
  readonly metrics: ServiceMetrics | undefined;
  /** For the start-up line: `metrics` ("host:port") and `metricsPort`; empty in a worker. */
  readonly listening: Record<string, string | number>;
  close(graceMs: number): Promise<void>;
}

export async function startMetrics(where: { host: string; port: number }, log: Logger, role: MetricsRole): Promise<ProcessMetrics> {
  const serve = async (metrics: ServiceMetrics | undefined, source: MetricsSource): Promise<ProcessMetrics> => {
    const server = await serveMetrics({ host: where.host, port: where.port, source, log });
    return { metrics, listening: { metrics: `${where.host}:${server.port}`, metricsPort: server.port }, close: (graceMs) => server.close(graceMs) };
  };
  if (role === "primary") return serve(undefined, workersMetrics());
  const metrics = createServiceMetrics();
  if (role === "process") return serve(metrics, metrics.registry);
  reportToPrimary(metrics.registry);
  return { metrics, listening: {}, close: async () => {} };
}
