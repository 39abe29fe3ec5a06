/**
 * The domain's counts on the real service: in-process on real PostgreSQL and Redis,
 * built with the real Prometheus series, driven by a real gRPC client. Each step
 * reads the registry before and after and asserts that every domain series moved by
 * exactly what the step did, and nothing else did. Then no label value of a scrape
 * is a phone, an id, a token or an IP.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServiceMetrics, type ServiceMetrics } from "../src/observability/metrics.js";
import { bearer, failure, freshStores, loginUser, OtpPurpose, registerUser, startService, type Service, type Stores } from "./support/grpc-harness.js";
import { freshPhone } from "./support/phones.js";
import { parsePrometheusText, type Scrape } from "./support/prometheus-text.js";
import { jwtPayload, movableClock } from "./support/tools.js";

/** The series the domain records (the transports' and the stores' are others' to test). */
const DOMAIN_SERIES = [
  "identity_verify_total",
  "identity_otp_sent_total",
  "identity_otp_checks_total",
  "identity_tokens_issued_total",
  "identity_refresh_total",
  "identity_sessions_revoked_total",
  "identity_rate_limited_total",
  "identity_sms_duration_seconds_count",
];

/** `name{label="value",...}`, labels sorted: one key per series. */
function seriesKey(name: string, labels: Readonly<Record<string, string>>): string {
  const inside = Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${v}"`)
    .join(",");
  return `${name}{${inside}}`;
}

function domainValues(scrape: Scrape): Map<string, number> {
  const values = new Map<string, number>();
  for (const sample of scrape.samples) {
    if (DOMAIN_SERIES.includes(sample.name)) values.set(seriesKey(sample.name, sample.labels), sample.value);
  }
  return values;
}

/** A pair of tokens signed. */
const PAIR = { 'identity_tokens_issued_total{type="access"}': 1, 'identity_tokens_issued_total{type="refresh"}': 1 };
/** One code texted for `purpose` through the test's webhook provider. */
const sent = (purpose: string, n = 1) => ({
  [`identity_otp_sent_total{provider="webhook",purpose="${purpose}",result="ok"}`]: n,
  'identity_sms_duration_seconds_count{provider="webhook"}': n,
});
const checked = (purpose: string, result: string) => ({ [`identity_otp_checks_total{purpose="${purpose}",result="${result}"}`]: 1 });

describe("the domain's counts over gRPC on real PostgreSQL and Redis", () => {
  const clock = movableClock();
  let stores: Stores;
  let service: Service;
  let metrics: ServiceMetrics;
  /** Everything the calls carried that must never be a label value. */
  const secrets = new Set<string>(["127.0.0.1", "::1", "::ffff:127.0.0.1"]);

  beforeAll(async () => {
    stores = await freshStores("real");
    metrics = createServiceMetrics();
    // The harness lifts the limits (every test client is 127.0.0.1); one is back for its step.
    service = await startService(stores, { clock, metrics, env: { OTP_MAX_PER_PHONE_PER_HOUR: "3" } });
  });
  afterAll(async () => {
    await service?.stop();
    await stores?.drop();
  });

  /** How far each domain series moved while `step` ran: only those that moved. */
  async function moves(step: () => Promise<unknown>): Promise<Record<string, number>> {
    const before = domainValues(parsePrometheusText(await metrics.registry.metrics()));
    await step();
    const after = domainValues(parsePrometheusText(await metrics.registry.metrics()));
    const moved: Record<string, number> = {};
    for (const [key, value] of after) {
      const delta = value - (before.get(key) ?? 0);
      if (delta !== 0) moved[key] = delta;
    }
    return moved;
  }

  function remember(...values: string[]): void {
    for (const value of values) secrets.add(value);
  }

  async function registered() {
    const signedUp = await registerUser(service);
    const { sid } = jwtPayload(signedUp.tokens.access) as { sid: string };
    remember(signedUp.phone, signedUp.user.id, sid, signedUp.tokens.access, signedUp.tokens.refresh);
    return signedUp;
  }

  async function loggedIn(phone: string) {
    const again = await loginUser(service, phone);
    remember(again.tokens.access, again.tokens.refresh, (jwtPayload(again.tokens.access) as { sid: string }).sid);
    return again;
  }

  it("send-otp and register: the code sent and timed, checked ok, a pair signed", async () => {
    expect(await moves(registered)).toEqual({ ...sent("register"), ...checked("register", "ok"), ...PAIR });
  });

  it("login: a wrong code refused as otp_invalid, then the right one ok and a pair signed", async () => {
    const { phone } = await registered();
    const moved = await moves(async () => {
      await service.auth.sendOtp({ phone, purpose: OtpPurpose.LOGIN });
      const code = service.sms.codeFor(phone, "login");
      const wrong = String((Number(code) + 1) % 10 ** code.length).padStart(code.length, "0");
      expect((await failure(service.auth.login({ phone, code: wrong }))).reason).toBe("otp_invalid");
      await service.auth.login({ phone, code });
    });
    expect(moved).toEqual({ ...sent("login"), ...checked("login", "otp_invalid"), ...checked("login", "ok"), ...PAIR });
  });

  it("Verify: valid, and the reason of each token that is not", async () => {
    const { tokens } = await registered();
    const moved = await moves(async () => {
      expect((await service.token.verify({ token: tokens.access })).valid).toBe(true);
      expect((await service.token.verify({ token: tokens.refresh })).reason).toBe("token_wrong_type");
      expect((await service.token.verify({ token: "not.a.token" })).reason).toBe("token_not_valid");
    });
    expect(moved).toEqual({
      'identity_verify_total{result="valid"}': 1,
      'identity_verify_total{result="token_wrong_type"}': 1,
      'identity_verify_total{result="token_not_valid"}': 1,
    });
  });

  it("refresh: rotated, grace_replay, reuse_detected (ending its session), refused", async () => {
    const { tokens } = await registered();
    expect(await moves(() => service.token.refresh({ refresh: tokens.refresh }))).toEqual({ 'identity_refresh_total{result="rotated"}': 1, ...PAIR });
    expect(await moves(() => service.token.refresh({ refresh: tokens.refresh }))).toEqual({ 'identity_refresh_total{result="grace_replay"}': 1, ...PAIR });
    clock.advance(11_000); // past REFRESH_REUSE_INTERVAL (10s)
    const reused = await moves(async () => expect((await failure(service.token.refresh({ refresh: tokens.refresh }))).reason).toBe("token_blacklisted"));
    expect(reused).toEqual({ 'identity_refresh_total{result="reuse_detected"}': 1, 'identity_sessions_revoked_total{reason="reuse_detected"}': 1 });
    const refused = await moves(async () => {
      expect((await failure(service.token.refresh({ refresh: "not.a.token" }))).reason).toBe("token_not_valid");
      expect((await failure(service.token.refresh({ refresh: tokens.refresh }))).reason).toBe("session_revoked");
    });
    expect(refused).toEqual({ 'identity_refresh_total{result="refused"}': 2 });
  });

  it("logout ends one session; logout-all every one", async () => {
    const { phone, tokens } = await registered();
    expect(await moves(() => service.auth.logout({ refresh: tokens.refresh }))).toEqual({ 'identity_sessions_revoked_total{reason="logout"}': 1 });
    const one = await loggedIn(phone);
    await loggedIn(phone);
    expect(await moves(async () => expect((await service.auth.logoutAll({}, bearer(one.tokens.access))).revoked).toBe(2))).toEqual({
      'identity_sessions_revoked_total{reason="logout_all"}': 2,
    });
  });

  it("RevokeSession ends the one chosen; LogoutOthers every other", async () => {
    const { phone, tokens } = await registered();
    const two = await loggedIn(phone);
    await loggedIn(phone);
    const { sid } = jwtPayload(two.tokens.access) as { sid: string };
    expect(await moves(() => service.auth.revokeSession({ sessionId: sid }, bearer(tokens.access)))).toEqual({ 'identity_sessions_revoked_total{reason="user"}': 1 });
    expect(await moves(async () => expect((await service.auth.logoutOthers({}, bearer(tokens.access))).revoked).toBe(1))).toEqual({
      'identity_sessions_revoked_total{reason="logout_others"}': 1,
    });
  });

  it("a send past the phone's hourly cap: otp_per_phone, and no code sent", async () => {
    const phone = freshPhone().e164;
    remember(phone);
    const moved = await moves(async () => {
      for (let i = 0; i < 3; i++) await service.auth.sendOtp({ phone, purpose: OtpPurpose.REGISTER });
      expect((await failure(service.auth.sendOtp({ phone, purpose: OtpPurpose.REGISTER }))).reason).toBe("rate_limited");
    });
    expect(moved).toEqual({ ...sent("register", 3), 'identity_rate_limited_total{limit="otp_per_phone"}': 1 });
  });

  it("no label value anywhere is a phone, an id, a session id, a token or an IP", async () => {
    const scrape = parsePrometheusText(await metrics.registry.metrics());
    const values = scrape.samples.flatMap((s) => Object.values(s.labels));
    expect(values.length).toBeGreaterThan(0);
    // The calls above must have left their marks, or there is nothing to look at.
    expect(secrets.size).toBeGreaterThan(20);
    const shapes = [
      /\+?\d{8,}/, // a phone
      /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i, // a user id
      /^[A-Za-z0-9_-]{22}$/, // a session id or jti
      /^eyJ/, // a token
      /^\d{1,3}(\.\d{1,3}){3}$|:.*:/, // an IP
    ];
    const offending = values.filter((v) => secrets.has(v) || shapes.some((shape) => shape.test(v)));
    expect(offending).toEqual([]);
  });
});
