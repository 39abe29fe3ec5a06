/**
 * The Prometheus series the service exports (DESIGN.md "Metrics and traces"): every
 * name with its type, moved by exactly what was recorded, beside the default
 * process_ and nodejs_ series; and what the SMS layer counts around a provider.
 */
import { describe, expect, it } from "vitest";
import { AppError, UnavailableError } from "../src/core/errors.js";
import { createServiceMetrics } from "../src/observability/metrics.js";
import { countSmsAttempts, createFailoverSender, observedSender, type SmsSender } from "../src/sms/index.js";
import { recordedMetrics } from "./core/support/recorded-metrics.js";
import { parsePrometheusText, type Scrape } from "./support/prometheus-text.js";

/** Every series DESIGN names, with the type its name promises. */
const DESIGN_SERIES: Record<string, "counter" | "histogram" | "gauge"> = {
  identity_grpc_requests_total: "counter",
  identity_grpc_request_duration_seconds: "histogram",
  identity_http_requests_total: "counter",
  identity_http_request_duration_seconds: "histogram",
  identity_verify_total: "counter",
  identity_otp_sent_total: "counter",
  identity_otp_checks_total: "counter",
  identity_tokens_issued_total: "counter",
  identity_refresh_total: "counter",
  identity_sessions_revoked_total: "counter",
  identity_rate_limited_total: "counter",
  identity_store_up: "gauge",
  identity_store_errors_total: "counter",
  identity_sms_duration_seconds: "histogram",
};

async function scrape(metrics: ReturnType<typeof createServiceMetrics>): Promise<Scrape> {
  return parsePrometheusText(await metrics.registry.metrics());
}

describe("createServiceMetrics", () => {
  it("exports every series of DESIGN with its type, beside the default process_ and nodejs_ series", async () => {
    const metrics = createServiceMetrics();
    const { types } = await scrape(metrics);
    for (const [name, type] of Object.entries(DESIGN_SERIES)) expect([name, types.get(name)]).toEqual([name, type]);
    const names = [...types.keys()];
    expect(names.some((n) => n.startsWith("process_"))).toBe(true);
    expect(names.some((n) => n.startsWith("nodejs_"))).toBe(true);
  });

  it("leaves the default series out when asked, and each registry is its own", async () => {
    const bare = createServiceMetrics({ defaultMetrics: false });
    const other = createServiceMetrics({ defaultMetrics: false });
    bare.domain.verified("valid");
    const names = [...(await scrape(bare)).types.keys()];
    expect(names.filter((n) => !n.startsWith("identity_"))).toEqual([]);
    expect((await scrape(other)).value("identity_verify_total")).toBe(0);
  });

  it("moves each domain series by exactly what was recorded, with its labels", async () => {
    const metrics = createServiceMetrics({ defaultMetrics: false });
    const { domain } = metrics;
    domain.verified("valid");
    domain.verified("valid");
    domain.verified("token_expired");
    domain.otpChecked("login", "ok");
    domain.otpChecked("register", "otp_invalid");
    domain.otpSent("login", "webhook", "ok");
    domain.otpSent("login", "webhook", "error");
    domain.smsCall("webhook", 0.2);
    domain.smsCall("webhook", 3);
    domain.tokensIssued("access");
    domain.tokensIssued("refresh", 2);
    domain.refreshed("rotated");
    domain.refreshed("reuse_detected");
    domain.sessionsRevoked("logout_all", 3);
    domain.sessionsRevoked("admin", 0);
    domain.rateLimited("otp_resend");
    const s = await scrape(metrics);
    expect(s.value("identity_verify_total", { result: "valid" })).toBe(2);
    expect(s.value("identity_verify_total", { result: "token_expired" })).toBe(1);
    expect(s.value("identity_verify_total")).toBe(3);
    expect(s.value("identity_otp_checks_total", { purpose: "login", result: "ok" })).toBe(1);
    expect(s.value("identity_otp_checks_total", { purpose: "register", result: "otp_invalid" })).toBe(1);
    expect(s.value("identity_otp_sent_total", { purpose: "login", provider: "webhook", result: "ok" })).toBe(1);
    expect(s.value("identity_otp_sent_total", { purpose: "login", provider: "webhook", result: "error" })).toBe(1);
    expect(s.value("identity_sms_duration_seconds_count", { provider: "webhook" })).toBe(2);
    expect(s.value("identity_sms_duration_seconds_sum", { provider: "webhook" })).toBeCloseTo(3.2);
    expect(s.value("identity_sms_duration_seconds_bucket", { provider: "webhook", le: "0.25" })).toBe(1);
    expect(s.value("identity_tokens_issued_total", { type: "access" })).toBe(1);
    expect(s.value("identity_tokens_issued_total", { type: "refresh" })).toBe(2);
    expect(s.value("identity_refresh_total", { result: "rotated" })).toBe(1);
    expect(s.value("identity_refresh_total", { result: "reuse_detected" })).toBe(1);
    expect(s.value("identity_sessions_revoked_total", { reason: "logout_all" })).toBe(3);
    // Nothing ended is nothing to show: no series of 0 for admin.
    expect(s.labelsOf("identity_sessions_revoked_total")).toEqual([{ reason: "logout_all" }]);
    expect(s.value("identity_rate_limited_total", { limit: "otp_resend" })).toBe(1);
  });

  it("records gRPC calls, HTTP requests and the stores' state", async () => {
    const metrics = createServiceMetrics({ defaultMetrics: false });
    const verify = metrics.grpcMethod("identity.v1.TokenService", "Verify");
    verify("OK", 0.001);
    verify("OK", 0.002);
    verify("UNAVAILABLE", 0.5);
    metrics.httpRoute("/api/sessions/{id}/")(204, 0.003);
    metrics.storeUp("postgres", true);
    metrics.storeUp("redis", false);
    metrics.storeError("redis");
    const s = await scrape(metrics);
    const method = { service: "identity.v1.TokenService", method: "Verify" };
    expect(s.value("identity_grpc_requests_total", { ...method, code: "OK" })).toBe(2);
    expect(s.value("identity_grpc_requests_total", { ...method, code: "UNAVAILABLE" })).toBe(1);
    expect(s.value("identity_grpc_request_duration_seconds_count", method)).toBe(3);
    expect(s.value("identity_http_requests_total", { route: "/api/sessions/{id}/", status: "204" })).toBe(1);
    expect(s.value("identity_http_request_duration_seconds_count", { route: "/api/sessions/{id}/" })).toBe(1);
    expect(s.value("identity_store_up", { store: "postgres" })).toBe(1);
    expect(s.value("identity_store_up", { store: "redis" })).toBe(0);
    expect(s.value("identity_store_errors_total", { store: "redis" })).toBe(1);
  });
});

describe("SMS attempts counted by the provider called", () => {
  const SMS = { to: "+989123456789", message: "Your verification code: 493817", code: "493817", purpose: "login" } as const;
  const silent = { debug() {}, info() {}, warn() {} };

  function provider(name: string, fails?: Error): SmsSender {
    return { name, send: () => (fails === undefined ? Promise.resolve({ provider: name }) : Promise.reject(fails)) };
  }

  it("a sender handed in whole: ok, by purpose and provider, and the call timed", async () => {
    const metrics = recordedMetrics();
    await observedSender(provider("webhook"), countSmsAttempts(metrics)).send(SMS);
    expect(metrics.take()).toEqual([
      ["smsCall", "webhook", expect.any(Number)],
      ["otpSent", "login", "webhook", "ok"],
    ]);
  });

  it("a provider that failed: error, and the call timed all the same", async () => {
    const metrics = recordedMetrics();
    const down = new UnavailableError("sms", "connection refused");
    await expect(observedSender(provider("webhook", down), countSmsAttempts(metrics)).send(SMS)).rejects.toBe(down);
    const events = metrics.events;
    expect(metrics.take()).toEqual([
      ["smsCall", "webhook", expect.any(Number)],
      ["otpSent", "login", "webhook", "error"],
    ]);
    expect(events[0]?.[2]).toBeGreaterThanOrEqual(0);
  });

  it("a failover list: each provider called is counted under its own name, the delivering one ok", async () => {
    const metrics = recordedMetrics();
    const list = createFailoverSender([provider("kavenegar", new UnavailableError("sms", "HTTP 502")), provider("twilio")], { logger: silent, onAttempt: countSmsAttempts(metrics) });
    await expect(list.send(SMS)).resolves.toEqual({ provider: "twilio" });
    expect(metrics.take()).toEqual([
      ["smsCall", "kavenegar", expect.any(Number)],
      ["otpSent", "login", "kavenegar", "error"],
      ["smsCall", "twilio", expect.any(Number)],
      ["otpSent", "login", "twilio", "ok"],
    ]);
  });

  it("an invalid number is timed but is neither a send nor a provider's failure", async () => {
    const metrics = recordedMetrics();
    const list = createFailoverSender([provider("twilio", new AppError("invalid_phone"))], { logger: silent, onAttempt: countSmsAttempts(metrics) });
    await expect(list.send(SMS)).rejects.toMatchObject({ reason: "invalid_phone" });
    expect(metrics.take()).toEqual([["smsCall", "twilio", expect.any(Number)]]);
  });
});
