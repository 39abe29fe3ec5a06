/**
 * identity_http_requests_total and identity_http_request_duration_seconds, counted
 * around each request by its route pattern (never its raw path) once the exchange
 * is over: when the answer has been handed to the connection, or when the client
 * went away before it was (status 499, nginx's "client closed request", so clients
 * giving up are seen rather than lost).
 */
import type { RequestObserver } from "../handler.js";
import type { ServiceMetrics } from "../../src/observability/metrics.js";

/** The status of a request whose client left before the answer was complete. */
export const CLIENT_CLOSED_REQUEST = 499;

export function metricsObserver(metrics: Pick<ServiceMetrics, "httpRoute">): RequestObserver {
  return (route, _req, res, answer) => {
    const record = metrics.httpRoute(route);
    const started = performance.now();
    // "close" follows "finish" on a completed answer and comes alone on an abandoned one.
    res.once("close", () => record(res.writableFinished ? res.statusCode : CLIENT_CLOSED_REQUEST, (performance.now() - started) / 1000));
    answer();
  };
}
