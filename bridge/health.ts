/**
 * `/healthz`: the process answers. `/readyz`: the stores answer (in-process: the
 * readiness monitor the gRPC health service also publishes; bridge role: the
 * upstream's gRPC health check), 503 otherwise.
 */
import { sendRefusal, sendSuccess } from "./http/envelope.js";
import type { Router } from "./http/router.js";

export interface ReadinessReport {
  ready: boolean;
  /** What is not answering, when known. */
  failing?: readonly string[];
}

export function addHealthRoutes(router: Router, readiness: () => Promise<ReadinessReport>): void {
  router.add("GET", "/healthz", (ex) => sendSuccess(ex, 200, "ok", { status: "ok" }));
  router.add("GET", "/readyz", async (ex) => {
    const report = await readiness();
    if (report.ready) sendSuccess(ex, 200, "ok", { status: "ready" });
    else sendRefusal(ex, { reason: "service_unavailable" }, {}, report.failing === undefined ? {} : { failing: report.failing });
  });
}
