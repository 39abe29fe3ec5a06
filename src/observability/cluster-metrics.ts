/**
 * WORKERS>1: one endpoint for every worker. The primary serves the sum of what its
 * workers record (prom-client's cluster aggregation, over node:cluster's IPC; each
 * series' `aggregator`, sum by default); workers only answer the primary.
 */
import { AggregatorRegistry, type Registry } from "prom-client";
import type { MetricsSource } from "./metrics-server.js";

/** In the primary: each scrape asks every worker for its series and sums them. */
export function workersMetrics(): MetricsSource {
  const aggregator = new AggregatorRegistry();
  return { contentType: aggregator.contentType, metrics: () => aggregator.clusterMetrics() };
}

/** In a worker: answer the primary's requests with `registry`. */
export function reportToPrimary(registry: Registry): void {
  // prom-client (15.1) adds a worker's message listener only in this constructor; without
  // it the primary's scrape waits for an answer that never comes.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries(registry);
}
