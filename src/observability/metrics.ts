/**
 * Every Prometheus series the service exports, defined once here (DESIGN.md "Metrics
 * and traces": the names are fixed, dashboards and alerts are written against them),
 * on a registry of its own so that several services in one process (tests, embedding
 * applications) do not collide. Recording is through bound children made once per
 * label value, so a counted call costs a Map lookup and an addition.
 *
 * Loaded only when METRICS_PORT is not `off` (prom-client is then never imported).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { DomainMetrics, RateLimit, RefreshOutcome, RevocationCause, TokenKind } from "../core/ports/metrics.js";

/** Seconds; from a Verify served from warm caches (~0.1 ms) to a slow SMS gateway. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export type StoreName = "postgres" | "redis";

/** Records one finished gRPC call of a method: its status code name and how long it took. */
export type CallRecorder = (code: string, seconds: number) => void;
/** Records one answered HTTP request of a route: its status and how long it took. */
export type RouteRecorder = (status: number, seconds: number) => void;

export interface ServiceMetrics {
  readonly registry: Registry;
  readonly domain: DomainMetrics;
  /** The recorder of `service/method`'s calls (identity_grpc_*), made once per method. */
  grpcMethod(service: string, method: string): CallRecorder;
  /** The recorder of a route's requests (identity_http_*), made on the route's first
   * request and kept; `route` is the pattern (`/api/sessions/{id}/`), never the raw path. */
  httpRoute(route: string): RouteRecorder;
  /** identity_store_up{store}: 1 while the store answers. */
  storeUp(store: StoreName, up: boolean): void;
  /** identity_store_errors_total{store}: a call the store failed. */
  storeError(store: StoreName): void;
}

/** A child per label value, made on first use and kept (label sets are closed). */
function children<T>(make: (key: string) => T): (key: string) => T {
  const made = new Map<string, T>();
  return (key) => {
    let child = made.get(key);
    if (child === undefined) made.set(key, (child = make(key)));
    return child;
  };
}

export function createServiceMetrics(options: { defaultMetrics?: boolean } = {}): ServiceMetrics {
  const registry = new Registry();
  const registers = [registry];
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });

  const grpcRequests = new Counter({ name: "identity_grpc_requests_total", help: "gRPC calls answered, by method and status code.", labelNames: ["service", "method", "code"] as const, registers });
  const grpcDuration = new Histogram({ name: "identity_grpc_request_duration_seconds", help: "Time to answer a gRPC call.", labelNames: ["service", "method"] as const, buckets: DURATION_BUCKETS, registers });
  const httpRequests = new Counter({ name: "identity_http_requests_total", help: "HTTP requests answered by the bridge, by route pattern and status.", labelNames: ["route", "status"] as const, registers });
  const httpDuration = new Histogram({ name: "identity_http_request_duration_seconds", help: "Time to answer an HTTP request.", labelNames: ["route"] as const, buckets: DURATION_BUCKETS, registers });
  const verify = new Counter({ name: "identity_verify_total", help: "Verify answers: valid, or the reason a token was not.", labelNames: ["result"] as const, registers });
  const otpSent = new Counter({ name: "identity_otp_sent_total", help: "One-time codes handed to an SMS provider (ok) or lost (error).", labelNames: ["purpose", "provider", "result"] as const, registers });
  const otpChecks = new Counter({ name: "identity_otp_checks_total", help: "One-time codes checked: ok, or the reason refused.", labelNames: ["purpose", "result"] as const, registers });
  const tokensIssued = new Counter({ name: "identity_tokens_issued_total", help: "Tokens signed, by type.", labelNames: ["type"] as const, registers });
  const refresh = new Counter({ name: "identity_refresh_total", help: "Refresh outcomes: rotated, grace_replay, reuse_detected, refused.", labelNames: ["result"] as const, registers });
  const revoked = new Counter({ name: "identity_sessions_revoked_total", help: "Sessions ended, by why.", labelNames: ["reason"] as const, registers });
  const rateLimited = new Counter({ name: "identity_rate_limited_total", help: "Calls refused by a rate limit, by which limit.", labelNames: ["limit"] as const, registers });
  const storeUp = new Gauge({ name: "identity_store_up", help: "1 while the store answers its health probe.", labelNames: ["store"] as const, registers, aggregator: "min" });
  const storeErrors = new Counter({ name: "identity_store_errors_total", help: "Store calls that failed (connection refused, time-out, ...).", labelNames: ["store"] as const, registers });
  const smsDuration = new Histogram({ name: "identity_sms_duration_seconds", help: "Time an SMS provider took to accept (or fail) a message.", labelNames: ["provider"] as const, buckets: DURATION_BUCKETS, registers });

  const verifyOf = children((result) => verify.labels(result));
  const otpSentOf = children((key) => otpSent.labels(...(key.split("\0") as [string, string, string])));
  const otpCheckOf = children((key) => otpChecks.labels(...(key.split("\0") as [string, string])));
  const issuedOf = children((type) => tokensIssued.labels(type));
  const refreshOf = children((result) => refresh.labels(result));
  const revokedOf = children((reason) => revoked.labels(reason));
  const limitedOf = children((limit) => rateLimited.labels(limit));
  const smsOf = children((provider) => smsDuration.labels(provider));

  const domain: DomainMetrics = {
    verified: (result) => verifyOf(result).inc(),
    otpChecked: (purpose, result) => otpCheckOf(`${purpose}\0${result}`).inc(),
    otpSent: (purpose, provider, result) => otpSentOf(`${purpose}\0${provider}\0${result}`).inc(),
    smsCall: (provider, seconds) => smsOf(provider).observe(seconds),
    tokensIssued: (kind: TokenKind, count = 1) => issuedOf(kind).inc(count),
    refreshed: (outcome: RefreshOutcome) => refreshOf(outcome).inc(),
    sessionsRevoked: (cause: RevocationCause, count) => {
      if (count > 0) revokedOf(cause).inc(count);
    },
    rateLimited: (limit: RateLimit) => limitedOf(limit).inc(),
  };

  return {
    registry,
    domain,
    grpcMethod(service, method) {
      const duration = grpcDuration.labels(service, method);
      const byCode = children((code) => grpcRequests.labels(service, method, code));
      return (code, seconds) => {
        byCode(code).inc();
        duration.observe(seconds);
      };
    },
    // Per request (the route is known only then), so kept: the same route, the same recorder.
    httpRoute: children((route): RouteRecorder => {
      const duration = httpDuration.labels(route);
      const byStatus = children((status) => httpRequests.labels(route, status));
      return (status, seconds) => {
        byStatus(String(status)).inc();
        duration.observe(seconds);
      };
    }),
    storeUp: (store, up) => storeUp.labels(store).set(up ? 1 : 0),
    storeError: (store) => storeErrors.labels(store).inc(),
  };
}
