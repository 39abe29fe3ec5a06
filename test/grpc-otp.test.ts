/**
 * One-time codes through a real gRPC client, on real PostgreSQL + Redis and on the
 * embedded default: expiry, single use, replacement, the attempt cap under parallel
 * guessing, phone and purpose binding, the send limits, SMS failures, phone forms,
 * wrong codes counted per client address and per phone (locks, back-off), and codes
 * kept only as keyed hashes.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, describe, expect, it } from "vitest";
import { AuthService } from "../gen/identity/v1/auth_pb.js";
import { failure, OtpPurpose, registerUser, type Service, type StoreMode } from "./support/grpc-harness.js";
import { freshKeyPrefix, realStoresAvailable } from "./support/services.js";
import { ageKeysUnder, keysUnder, lab, movableClock, sharedRedis, redisKeyPrefixOf } from "./support/tools.js";
import { freshPhone } from "./support/phones.js";

const modes: StoreMode[] = realStoresAvailable() ? ["real", "embedded"] : ["embedded"];
const REGISTER = OtpPurpose.REGISTER;
const LOGIN = OtpPurpose.LOGIN;

/** The same code with its first digit changed: certainly wrong. */
function wrong(code: string): string {
  return `${(Number(code[0]) + 1) % 10}${code.slice(1)}`;
}

/** Status, ErrorInfo reason and metadata, plus the `retry-after` trailer. */
async function refusal(call: Promise<unknown>) {
  let trailer: string | null = null;
  try {
    await call;
  } catch (error) {
    trailer = ConnectError.from(error).metadata.get("retry-after");
  }
  return { ...(await failure(call)), trailer };
}

describe.each(modes)("one-time codes over gRPC (%s stores)", (mode) => {
  const stores = lab(mode);
  afterAll(() => stores.close());

  async function sendRegister(service: Service, phone = freshPhone().e164): Promise<{ phone: string; code: string }> {
    await service.auth.sendOtp({ phone, purpose: REGISTER });
    return { phone, code: service.sms.codeFor(phone, "register") };
  }

  async function countRows(service: Service, sql: string, params: unknown[]): Promise<number> {
    const rows = await service.app.db.query<{ n: string | number }>(sql, params);
    return Number(rows[0]!.n);
  }

  const names = { firstName: "Reza", lastName: "Karimi" };

  describe("with the default code settings", () => {
    it("works once: the second use of a code is otp_expired", async () => {
      const service = await stores.service();
      const { phone } = await registerUser(service);
      await service.auth.sendOtp({ phone, purpose: LOGIN });
      const code = service.sms.codeFor(phone, "login");
      await service.auth.login({ phone, code });
      expect(await failure(service.auth.login({ phone, code }))).toMatchObject({ code: Code.InvalidArgument, reason: "otp_expired" });
    });

    it("replaces the old code on resend: the old one is otp_invalid while the new one lives, and the new one works", async () => {
      const service = await stores.service();
      const { phone, code: old } = await sendRegister(service);
      await service.auth.sendOtp({ phone, purpose: REGISTER });
      let fresh = service.sms.codeFor(phone, "register");
      // Two sends may draw the same six digits (one in a million): draw again.
      while (fresh === old) {
        await service.auth.sendOtp({ phone, purpose: REGISTER });
        fresh = service.sms.codeFor(phone, "register");
      }
      expect(await failure(service.auth.register({ phone, code: old, ...names }))).toMatchObject({ code: Code.InvalidArgument, reason: "otp_invalid" });
      const { user } = await service.auth.register({ phone, code: fresh, ...names });
      expect(user!.phone).toBe(phone);
    });

    it("evaluates at most OTP_MAX_ATTEMPTS of 30 parallel wrong guesses: 4 otp_invalid, the rest otp_attempts_exceeded, and the code is dead", async () => {
      const service = await stores.service();
      const { phone, code } = await sendRegister(service);
      const results = await Promise.all(Array.from({ length: 30 }, () => failure(service.auth.register({ phone, code: wrong(code), ...names }))));
      const reasons = results.map((r) => r.reason);
      expect(reasons.filter((r) => r === "otp_invalid")).toHaveLength(4);
      expect(reasons.filter((r) => r === "otp_attempts_exceeded")).toHaveLength(26);
      for (const r of results.filter((x) => x.reason === "otp_attempts_exceeded")) {
        expect(r.code).toBe(Code.ResourceExhausted);
        expect(Number(r.metadata.retry_after)).toBeGreaterThan(0);
      }
      expect(await failure(service.auth.register({ phone, code, ...names }))).toMatchObject({ code: Code.ResourceExhausted, reason: "otp_attempts_exceeded" });
      expect(await countRows(service, "SELECT count(*) AS n FROM users WHERE phone = $1", [phone])).toBe(0);
    });

    it("lets the same correct code start exactly one session out of 20 parallel logins", async () => {
      const service = await stores.service();
      const { phone, user } = await registerUser(service);
      await service.auth.sendOtp({ phone, purpose: LOGIN });
      const code = service.sms.codeFor(phone, "login");
      const results = await Promise.allSettled(Array.from({ length: 20 }, () => service.auth.login({ phone, code })));
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      const refused = await Promise.all(results.filter((r) => r.status === "rejected").map((r) => failure(Promise.reject(r.reason))));
      // Every other copy finds the code gone: right tries never count as failures.
      expect(refused.map((r) => r.reason)).toEqual(Array(19).fill("otp_expired"));
      // One session from registration, one from the login that won.
      expect(await countRows(service, "SELECT count(*) AS n FROM sessions WHERE user_id = $1", [user.id])).toBe(2);
    });

    it("binds a code to its phone: another phone's code is otp_expired without a live code, otp_invalid with one, never a success", async () => {
      const service = await stores.service();
      const a = await sendRegister(service);
      const b = await sendRegister(service);
      const bare = freshPhone().e164;
      expect(await failure(service.auth.register({ phone: bare, code: a.code, ...names }))).toMatchObject({ code: Code.InvalidArgument, reason: "otp_expired" });
      if (a.code !== b.code) {
        expect(await failure(service.auth.register({ phone: b.phone, code: a.code, ...names }))).toMatchObject({ code: Code.InvalidArgument, reason: "otp_invalid" });
      }
      // Both codes still work for their own phones.
      await service.auth.register({ phone: a.phone, code: a.code, ...names });
      await service.auth.register({ phone: b.phone, code: b.code, ...names });
      expect(await countRows(service, "SELECT count(*) AS n FROM users WHERE phone = $1", [bare])).toBe(0);
    });

    it("accepts a code typed in Persian digits", async () => {
      const service = await stores.service();
      const { phone, code } = await sendRegister(service);
      const persian = [...code].map((d) => String.fromCodePoint(0x06f0 + Number(d))).join("");
      const { user } = await service.auth.register({ phone, code: persian, ...names });
      expect(user?.phone).toBe(phone);
    });

    it("binds a code to its purpose: a register code does not log in, a login code does not register", async () => {
      const service = await stores.service();
      const fresh = await sendRegister(service);
      expect(await failure(service.auth.login({ phone: fresh.phone, code: fresh.code }))).toMatchObject({ code: Code.InvalidArgument, reason: "otp_expired" });

      const { phone } = await registerUser(service);
      await service.auth.sendOtp({ phone, purpose: LOGIN });
      const loginCode = service.sms.codeFor(phone, "login");
      expect(await failure(service.auth.register({ phone, code: loginCode, ...names }))).toMatchObject({ code: Code.InvalidArgument, reason: "otp_expired" });
      // Each still works for what it was sent for.
      await service.auth.register({ phone: fresh.phone, code: fresh.code, ...names });
      await service.auth.login({ phone, code: loginCode });
    });

    it("creates one user out of 10 parallel registrations of one phone with its code", async () => {
      const service = await stores.service();
      const { phone, code } = await sendRegister(service);
      const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => service.auth.register({ phone, code, firstName: `N${i}`, lastName: "" })));
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      const refused = await Promise.all(results.filter((r) => r.status === "rejected").map((r) => failure(Promise.reject(r.reason))));
      expect(refused.map((r) => r.reason)).toEqual(Array(9).fill("otp_expired"));
      expect(await countRows(service, "SELECT count(*) AS n FROM users WHERE phone = $1", [phone])).toBe(1);
      expect(await countRows(service, "SELECT count(*) AS n FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.phone = $1", [phone])).toBe(1);
    });

    it("refuses a code of the wrong shape as validation_error without spending an attempt", async () => {
      const service = await stores.service();
      const { phone, code } = await sendRegister(service);
      for (const shape of ["12345", "1234567", "12 456", "abcdef"]) {
        expect(await failure(service.auth.register({ phone, code: shape, ...names }))).toMatchObject({ code: Code.InvalidArgument, reason: "validation_error", metadata: { field: "code" } });
      }
      for (let i = 0; i < 4; i++) expect((await failure(service.auth.register({ phone, code: wrong(code), ...names }))).reason).toBe("otp_invalid");
      await service.auth.register({ phone, code, ...names });
    });

    it("refuses a landline as invalid_phone", async () => {
      const service = await stores.service();
      for (const phone of ["+982112345678", "02112345678", "0912", "+98 912 123 4567 8", "not a phone"]) {
        expect(await failure(service.auth.sendOtp({ phone, purpose: REGISTER }))).toMatchObject({ code: Code.InvalidArgument, reason: "invalid_phone" });
      }
    });
  });

  describe("with OTP_TTL=1s", () => {
    it("expires a code after OTP_TTL (otp_expired)", async () => {
      const service = await stores.service({ OTP_TTL: "1s" });
      const phone = freshPhone().e164;
      const sent = await service.auth.sendOtp({ phone, purpose: REGISTER });
      expect(sent.expiresIn).toBe(1);
      const code = service.sms.codeFor(phone, "register");
      await sleep(1_200);
      expect(await failure(service.auth.register({ phone, code, ...names }))).toMatchObject({ code: Code.InvalidArgument, reason: "otp_expired" });
    });
  });

  describe("with OTP_MAX_ATTEMPTS=3 and OTP_RESEND_INTERVAL=60s", () => {
    const env = { OTP_MAX_ATTEMPTS: "3", OTP_RESEND_INTERVAL: "60s" };

    it("kills a code at the third wrong try (otp_attempts_exceeded with retry_after), and then refuses even the right code", async () => {
      const service = await stores.service(env);
      const { phone, code } = await sendRegister(service);
      for (let i = 0; i < 2; i++) {
        expect(await failure(service.auth.register({ phone, code: wrong(code), ...names }))).toMatchObject({ code: Code.InvalidArgument, reason: "otp_invalid" });
      }
      const third = await refusal(service.auth.register({ phone, code: wrong(code), ...names }));
      expect(third).toMatchObject({ code: Code.ResourceExhausted, reason: "otp_attempts_exceeded" });
      expect(Number(third.metadata.retry_after)).toBeGreaterThan(0);
      expect(Number(third.metadata.retry_after)).toBeLessThanOrEqual(120);
      expect(third.trailer).toBe(third.metadata.retry_after);
      expect(await failure(service.auth.register({ phone, code, ...names }))).toMatchObject({ code: Code.ResourceExhausted, reason: "otp_attempts_exceeded" });
      expect(await countRows(service, "SELECT count(*) AS n FROM users WHERE phone = $1", [phone])).toBe(0);
    });

    it("refuses a second send within OTP_RESEND_INTERVAL (rate_limited, retry_after in the metadata) and sends nothing", async () => {
      const service = await stores.service(env);
      const phone = freshPhone().e164;
      const sent = await service.auth.sendOtp({ phone, purpose: REGISTER });
      expect(sent.resendAfter).toBe(60);
      const before = service.sms.received.length;
      const second = await refusal(service.auth.sendOtp({ phone, purpose: REGISTER }));
      expect(second).toMatchObject({ code: Code.ResourceExhausted, reason: "rate_limited" });
      expect(Number(second.metadata.retry_after)).toBeGreaterThanOrEqual(50);
      expect(Number(second.metadata.retry_after)).toBeLessThanOrEqual(60);
      expect(second.trailer).toBe(second.metadata.retry_after);
      expect(service.sms.received.length).toBe(before);
      // The first code is still the live one.
      await service.auth.register({ phone, code: service.sms.codeFor(phone, "register"), ...names });
    });

    it("normalizes every common form of a number to one E.164 phone, with one rate bucket", async () => {
      const service = await stores.service(env);
      const forms = ["09121234567", "+98 912 123 4567", "00989121234567", "0912-123-4567", "+98 (912) 123-4567", "۰۹۱۲۱۲۳۴۵۶۷", "٠٩١٢١٢٣٤٥٦٧"];
      await service.auth.sendOtp({ phone: forms[0]!, purpose: REGISTER });
      expect(service.sms.received.at(-1)!.to).toBe("+989121234567");
      for (const phone of forms.slice(1)) {
        expect(await failure(service.auth.sendOtp({ phone, purpose: REGISTER }))).toMatchObject({ code: Code.ResourceExhausted, reason: "rate_limited" });
      }
      // And the code sent to one form registers through another.
      const code = service.sms.codeFor("+989121234567", "register");
      const { user } = await service.auth.register({ phone: "٠٩١٢١٢٣٤٥٦٧", code, ...names });
      expect(user!.phone).toBe("+989121234567");
    });
  });

  describe("PHONE_ALLOWED_REGIONS", () => {
    const uk = "+44 7400 123456";

    it("sends to a mobile of any region by default", async () => {
      const service = await stores.service({ REDIS_KEY_PREFIX: freshKeyPrefix() });
      await service.auth.sendOtp({ phone: uk, purpose: REGISTER });
      expect(service.sms.received.at(-1)!.to).toBe("+447400123456");
    });

    it("refuses a mobile of another region as invalid_phone, sends nothing, and spends nothing of its limits", async () => {
      const service = await stores.service({ PHONE_ALLOWED_REGIONS: "IR, ae", OTP_MAX_PER_IP_PER_HOUR: "2", REDIS_KEY_PREFIX: freshKeyPrefix() });
      const before = service.sms.received.length;
      for (const phone of [uk, "+1 202 555 0143", "0044 7400 123456"]) {
        expect(await failure(service.auth.sendOtp({ phone, purpose: REGISTER }))).toMatchObject({ code: Code.InvalidArgument, reason: "invalid_phone" });
      }
      expect(await failure(service.auth.register({ phone: uk, code: "123456", ...names }))).toMatchObject({ reason: "invalid_phone" });
      expect(service.sms.received.length).toBe(before);
      // The allowed regions are served, and the refusals above cost the client nothing
      // of its two sends an hour.
      await service.auth.sendOtp({ phone: "+971 50 123 4567", purpose: REGISTER });
      await sendRegister(service);
      expect(service.sms.received.length).toBe(before + 2);
      expect(await failure(service.auth.sendOtp({ phone: freshPhone().e164, purpose: REGISTER }))).toMatchObject({ reason: "rate_limited" });
    });
  });

  describe("with ENUMERATION_PROTECTION=true", () => {
    const env = { ENUMERATION_PROTECTION: "true" };

    it("answers send-otp alike for registered and unknown numbers, for both purposes, and sends the code alike", async () => {
      const service = await stores.service(env);
      const { phone: known } = await registerUser(service);
      const unknown = freshPhone().e164;
      const answers = [];
      for (const [phone, purpose] of [[known, REGISTER], [unknown, REGISTER], [known, LOGIN], [unknown, LOGIN]] as const) {
        const before = service.sms.received.length;
        answers.push(await service.auth.sendOtp({ phone, purpose }));
        expect(service.sms.received.length).toBe(before + 1);
        expect(service.sms.received.at(-1)!.to).toBe(phone);
      }
      const shapes = answers.map((a) => JSON.stringify({ expiresIn: a.expiresIn, resendAfter: a.resendAfter }));
      expect(new Set(shapes).size).toBe(1);
    });

    it("tells only whoever verified the code that the number is registered: register answers phone_already_registered, the user unchanged", async () => {
      const service = await stores.service(env);
      const { phone, user } = await registerUser(service);
      await service.auth.sendOtp({ phone, purpose: REGISTER });
      const code = service.sms.codeFor(phone, "register");
      // A wrong code learns nothing about the number.
      expect(await failure(service.auth.register({ phone, code: wrong(code), firstName: "X", lastName: "Y" }))).toMatchObject({ reason: "otp_invalid" });
      expect(await failure(service.auth.register({ phone, code, firstName: "X", lastName: "Y" }))).toMatchObject({ code: Code.FailedPrecondition, reason: "phone_already_registered" });
      // The code was spent, and the user is as it was.
      expect(await failure(service.auth.register({ phone, code, firstName: "X", lastName: "Y" }))).toMatchObject({ reason: "otp_expired" });
      const rows = await service.app.db.query<{ id: string; first_name: string }>("SELECT id, first_name FROM users WHERE phone = $1", [phone]);
      expect(rows).toEqual([{ id: user.id, first_name: "Sara" }]);
    });

    it("tells only whoever verified the code that the number is unknown: login answers phone_not_registered, nothing created", async () => {
      const service = await stores.service(env);
      const phone = freshPhone().e164;
      await service.auth.sendOtp({ phone, purpose: LOGIN });
      const code = service.sms.codeFor(phone, "login");
      expect(await failure(service.auth.login({ phone, code: wrong(code) }))).toMatchObject({ reason: "otp_invalid" });
      expect(await failure(service.auth.login({ phone, code }))).toMatchObject({ code: Code.FailedPrecondition, reason: "phone_not_registered" });
      expect(await countRows(service, "SELECT count(*) AS n FROM users WHERE phone = $1", [phone])).toBe(0);
      expect(await countRows(service, "SELECT count(*) AS n FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.phone = $1", [phone])).toBe(0);
    });

    it("keeps every send limit alike: the resend interval refuses a registered and an unknown number the same way", async () => {
      const service = await stores.service({ ...env, OTP_RESEND_INTERVAL: "60s" });
      const { phone: known } = await registerUser(service);
      const unknown = freshPhone().e164;
      await service.auth.sendOtp({ phone: known, purpose: LOGIN });
      await service.auth.sendOtp({ phone: unknown, purpose: LOGIN });
      const [a, b] = [await refusal(service.auth.sendOtp({ phone: known, purpose: LOGIN })), await refusal(service.auth.sendOtp({ phone: unknown, purpose: LOGIN }))];
      expect(a).toMatchObject({ code: Code.ResourceExhausted, reason: "rate_limited" });
      expect(b).toMatchObject({ code: Code.ResourceExhausted, reason: "rate_limited" });
      expect(a.message).toBe(b.message);
    });
  });

  describe("with OTP_MAX_PER_PHONE_PER_HOUR=2", () => {
    const env = { OTP_MAX_PER_PHONE_PER_HOUR: "2" };

    it("refuses the third send to a phone within the hour (rate_limited)", async () => {
      const service = await stores.service(env);
      const phone = freshPhone().e164;
      await service.auth.sendOtp({ phone, purpose: REGISTER });
      await service.auth.sendOtp({ phone, purpose: REGISTER });
      const third = await refusal(service.auth.sendOtp({ phone, purpose: REGISTER }));
      expect(third).toMatchObject({ code: Code.ResourceExhausted, reason: "rate_limited" });
      expect(Number(third.metadata.retry_after)).toBeGreaterThan(3500);
      expect(Number(third.metadata.retry_after)).toBeLessThanOrEqual(3600);
      // Another phone is not affected.
      await service.auth.sendOtp({ phone: freshPhone().e164, purpose: REGISTER });
    });

    it("answers a failed SMS with sms_unavailable, leaves no usable code, and still counts the send", async () => {
      const service = await stores.service(env);
      const { phone, code } = await sendRegister(service);
      service.sms.failWith(500);
      try {
        const failed = await failure(service.auth.sendOtp({ phone, purpose: REGISTER }));
        expect(failed).toMatchObject({ code: Code.Unavailable, reason: "sms_unavailable" });
        // Generic words only: nothing of the gateway, its address or its answer.
        expect(failed.message).not.toMatch(/127\.0\.0\.1|http|HTTP 500|webhook|:\d{2,5}/i);
      } finally {
        service.sms.failWith(200);
      }
      // Neither the code that never went out nor the one it replaced works.
      expect(await failure(service.auth.register({ phone, code, ...names }))).toMatchObject({ code: Code.InvalidArgument, reason: "otp_expired" });
      expect(await failure(service.auth.register({ phone, code: "000000", ...names }))).toMatchObject({ reason: "otp_expired" });
      // The failed send counted: this is the third within the hour.
      expect(await failure(service.auth.sendOtp({ phone, purpose: REGISTER }))).toMatchObject({ code: Code.ResourceExhausted, reason: "rate_limited" });
    });
  });

  describe("with OTP_MAX_PER_IP_PER_HOUR=3", () => {
    it("refuses the fourth send from one client address across phones and connections (rate_limited)", async () => {
      // A key prefix of its own: the earlier tests' sends from 127.0.0.1 count in Redis.
      const service = await stores.service({ OTP_MAX_PER_IP_PER_HOUR: "3", REDIS_KEY_PREFIX: freshKeyPrefix() });
      // A new connection per call: a client must not dodge its limit by reconnecting.
      const fresh = () => createClient(AuthService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.port}` }));
      for (let i = 0; i < 3; i++) await fresh().sendOtp({ phone: freshPhone().e164, purpose: REGISTER });
      const fourth = await refusal(fresh().sendOtp({ phone: freshPhone().e164, purpose: REGISTER }));
      expect(fourth).toMatchObject({ code: Code.ResourceExhausted, reason: "rate_limited" });
      expect(Number(fourth.metadata.retry_after)).toBeGreaterThan(3500);
      // Nor by claiming another address: no proxy is trusted.
      const spoofed = fresh().sendOtp({ phone: freshPhone().e164, purpose: REGISTER }, { headers: { "x-forwarded-for": "203.0.113.9" } });
      expect(await failure(spoofed)).toMatchObject({ reason: "rate_limited" });
    });

    it("counts a refused send-otp toward neither limit: registered-number and resend-interval refusals spend none of the address's sends", async () => {
      const service = await stores.service({ OTP_MAX_PER_IP_PER_HOUR: "3", OTP_RESEND_INTERVAL: "60s", TRUSTED_PROXIES: "127.0.0.1", REDIS_KEY_PREFIX: freshKeyPrefix() });
      const from = { headers: { "x-forwarded-for": "203.0.113.40" } };
      const { phone: registered } = await registerUser(service); // from 127.0.0.1
      for (let i = 0; i < 3; i++) expect(await failure(service.auth.sendOtp({ phone: registered, purpose: REGISTER }, from))).toMatchObject({ reason: "phone_already_registered" });
      const phone = freshPhone().e164;
      await service.auth.sendOtp({ phone, purpose: REGISTER }, from);
      for (let i = 0; i < 2; i++) expect(await failure(service.auth.sendOtp({ phone, purpose: REGISTER }, from))).toMatchObject({ reason: "rate_limited" });
      // The address's three sends are all still its own.
      await service.auth.sendOtp({ phone: freshPhone().e164, purpose: REGISTER }, from);
      await service.auth.sendOtp({ phone: freshPhone().e164, purpose: REGISTER }, from);
      const fourth = await refusal(service.auth.sendOtp({ phone: freshPhone().e164, purpose: REGISTER }, from));
      expect(fourth).toMatchObject({ reason: "rate_limited" });
      expect(Number(fourth.metadata.retry_after)).toBeGreaterThan(3500);
    });

    it("counts a send refused by one cap toward neither: not the phone's when the address is over, not the address's when the phone is", async () => {
      const service = await stores.service({ OTP_MAX_PER_IP_PER_HOUR: "2", OTP_MAX_PER_PHONE_PER_HOUR: "2", TRUSTED_PROXIES: "127.0.0.1", REDIS_KEY_PREFIX: freshKeyPrefix() });
      const x = { headers: { "x-forwarded-for": "203.0.113.41" } };
      const y = { headers: { "x-forwarded-for": "203.0.113.42" } };
      const full = freshPhone().e164;
      const other = freshPhone().e164;
      await service.auth.sendOtp({ phone: full, purpose: REGISTER }, x);
      await service.auth.sendOtp({ phone: full, purpose: REGISTER }, x);
      // x is at its cap: refused, and `other` is not charged for it.
      expect(await failure(service.auth.sendOtp({ phone: other, purpose: REGISTER }, x))).toMatchObject({ reason: "rate_limited" });
      // `full` is at its cap: refused, and y is not charged for it.
      expect(await failure(service.auth.sendOtp({ phone: full, purpose: REGISTER }, y))).toMatchObject({ reason: "rate_limited" });
      await service.auth.sendOtp({ phone: other, purpose: REGISTER }, y);
      await service.auth.sendOtp({ phone: other, purpose: REGISTER }, y);
      expect(await failure(service.auth.sendOtp({ phone: other, purpose: REGISTER }, y))).toMatchObject({ reason: "rate_limited" });
    });

    it("counts by the X-Forwarded-For address when the peer is a trusted proxy", async () => {
      const service = await stores.service({ OTP_MAX_PER_IP_PER_HOUR: "3", TRUSTED_PROXIES: "127.0.0.1", REDIS_KEY_PREFIX: freshKeyPrefix() });
      const from = (ip: string) => ({ headers: { "x-forwarded-for": `198.51.100.1, ${ip}` } });
      for (let i = 0; i < 3; i++) await service.auth.sendOtp({ phone: freshPhone().e164, purpose: REGISTER }, from("203.0.113.7"));
      expect(await failure(service.auth.sendOtp({ phone: freshPhone().e164, purpose: REGISTER }, from("203.0.113.7")))).toMatchObject({ code: Code.ResourceExhausted, reason: "rate_limited" });
      await service.auth.sendOtp({ phone: freshPhone().e164, purpose: REGISTER }, from("203.0.113.8"));
    });
  });
});

describe.each(modes)("wrong codes counted per client address and per phone (%s stores)", (mode) => {
  const clock = movableClock();
  const stores = lab(mode, { clock });
  afterAll(() => stores.close());

  // The test client (127.0.0.1) is the trusted proxy; each call names its client.
  const from = (ip: string) => ({ headers: { "x-forwarded-for": ip } });
  const fresh = (env: Record<string, string> = {}) => stores.service({ TRUSTED_PROXIES: "127.0.0.1", REDIS_KEY_PREFIX: freshKeyPrefix(), ...env });
  const names = { firstName: "Reza", lastName: "Karimi" };

  /** Time passes for the service's clock and, on Redis, for its keys' TTLs. */
  async function passTime(service: Service, ms: number): Promise<void> {
    clock.advance(ms);
    if (mode !== "real") return;
    const redis = sharedRedis();
    try {
      await ageKeysUnder(redis, redisKeyPrefixOf(service.config), ms);
    } finally {
      redis.disconnect();
    }
  }

  /** Sends a code from `ip` and types `count` wrong ones from there; returns the answers' reasons. */
  async function guess(service: Service, phone: string, purpose: OtpPurpose, ip: string, count: number): Promise<string[]> {
    await service.auth.sendOtp({ phone, purpose }, from(ip));
    const code = service.sms.codeFor(phone, purpose === REGISTER ? "register" : "login");
    const reasons: string[] = [];
    for (let i = 0; i < count; i++) {
      const call = purpose === REGISTER ? service.auth.register({ phone, code: wrong(code), ...names }, from(ip)) : service.auth.login({ phone, code: wrong(code) }, from(ip));
      reasons.push((await failure(call)).reason);
    }
    return reasons;
  }

  /** A lock's answer: rate_limited, with retry_after in seconds. */
  async function lockedFor(call: Promise<unknown>): Promise<number> {
    const refused = await refusal(call);
    expect(refused).toMatchObject({ code: Code.ResourceExhausted, reason: "rate_limited" });
    expect(refused.trailer).toBe(refused.metadata.retry_after);
    return Number(refused.metadata.retry_after);
  }

  async function ownerLogsIn(service: Service, phone: string, ip: string): Promise<void> {
    await service.auth.sendOtp({ phone, purpose: LOGIN }, from(ip));
    const { user } = await service.auth.login({ phone, code: service.sms.codeFor(phone, "login") }, from(ip));
    expect(user!.phone).toBe(phone);
  }

  it("keeps the owner in when one address plays send-otp and five wrong codes three times: that address is locked for at most 5 minutes, the owner at another not at all", async () => {
    const service = await fresh();
    const { phone } = await registerUser(service);
    const attacker = "203.0.113.66";
    expect(await guess(service, phone, LOGIN, attacker, 5)).toEqual([...Array(4).fill("otp_invalid"), "otp_attempts_exceeded"]);
    expect(await guess(service, phone, LOGIN, attacker, 5)).toEqual([...Array(4).fill("otp_invalid"), "otp_attempts_exceeded"]);
    // The third round: send-otp and every guess are refused, for minutes, not an hour.
    const retry = await lockedFor(service.auth.sendOtp({ phone, purpose: LOGIN }, from(attacker)));
    expect(retry).toBeGreaterThan(0);
    expect(retry).toBeLessThanOrEqual(300);
    for (let i = 0; i < 5; i++) expect(await lockedFor(service.auth.login({ phone, code: "123456" }, from(attacker)))).toBeLessThanOrEqual(300);
    // The owner, elsewhere, gets a code and logs in at once.
    await ownerLogsIn(service, phone, "198.51.100.7");
  });

  it("backs off an address's repeated locks on a phone: the second lasts twice, the third four times as long as the first", async () => {
    const service = await fresh();
    const { phone } = await registerUser(service);
    const attacker = "203.0.113.67";
    await guess(service, phone, LOGIN, attacker, 5);
    await guess(service, phone, LOGIN, attacker, 5);
    const first = await lockedFor(service.auth.login({ phone, code: "123456" }, from(attacker)));
    expect(first).toBeGreaterThan(290);
    expect(first).toBeLessThanOrEqual(300);

    // Once it ends, one more wrong code locks the address again, for twice as long.
    await passTime(service, first * 1000);
    expect(await guess(service, phone, LOGIN, attacker, 1)).toEqual(["otp_invalid"]);
    const second = await lockedFor(service.auth.login({ phone, code: "123456" }, from(attacker)));
    expect(second).toBeGreaterThan(2 * first - 10);
    expect(second).toBeLessThanOrEqual(2 * first);

    await passTime(service, second * 1000);
    expect(await guess(service, phone, LOGIN, attacker, 1)).toEqual(["otp_invalid"]);
    const third = await lockedFor(service.auth.sendOtp({ phone, purpose: LOGIN }, from(attacker)));
    expect(third).toBeGreaterThan(4 * first - 10);
    expect(third).toBeLessThanOrEqual(4 * first);

    // Twelve wrong codes from one address leave the phone itself open: the owner,
    // elsewhere, may even mistype once before the right code.
    const owner = "198.51.100.8";
    expect(await guess(service, phone, LOGIN, owner, 1)).toEqual(["otp_invalid"]);
    await service.auth.login({ phone, code: service.sms.codeFor(phone, "login") }, from(owner));
  });

  it("keeps the phone open when one address fires guesses in parallel as its lock ends, and locks it twice as long for each that lands", async () => {
    const service = await fresh();
    const { phone } = await registerUser(service);
    const attacker = "203.0.113.68";
    await guess(service, phone, LOGIN, attacker, 5);
    await guess(service, phone, LOGIN, attacker, 5);
    await passTime(service, 300_000);
    await service.auth.sendOtp({ phone, purpose: LOGIN }, from(attacker));
    const code = service.sms.codeFor(phone, "login");
    const answers = await Promise.all(Array.from({ length: 5 }, () => failure(service.auth.login({ phone, code: wrong(code) }, from(attacker)))));
    const landed = answers.filter((a) => a.reason !== "rate_limited").length;
    expect(landed).toBeGreaterThanOrEqual(1);
    // Each guess that landed was a lock of its own: the next is 5 min × 2^landed.
    const retry = await lockedFor(service.auth.login({ phone, code: "123456" }, from(attacker)));
    expect(retry).toBeGreaterThan(300 * 2 ** landed - 10);
    expect(retry).toBeLessThanOrEqual(300 * 2 ** landed);
    await ownerLogsIn(service, phone, "198.51.100.13");
  });

  it("still locks the phone for everyone, for the rest of the hour, when several addresses together reach 15 wrong codes", async () => {
    const service = await fresh();
    const { phone } = await registerUser(service);
    for (const ip of ["203.0.113.1", "203.0.113.2", "203.0.113.3"]) {
      expect(await guess(service, phone, LOGIN, ip, 5)).toEqual([...Array(4).fill("otp_invalid"), "otp_attempts_exceeded"]);
    }
    const owner = from("198.51.100.9");
    const retry = await lockedFor(service.auth.sendOtp({ phone, purpose: LOGIN }, owner));
    expect(retry).toBeGreaterThan(3500);
    expect(retry).toBeLessThanOrEqual(3600);
    expect(await lockedFor(service.auth.login({ phone, code: "123456" }, owner))).toBeGreaterThan(3500);
    expect(await lockedFor(service.auth.login({ phone, code: "123456" }, from("203.0.113.4")))).toBeGreaterThan(3500);
  });

  it("locks an address that fails across many phones (OTP_MAX_PER_IP_PER_HOUR × OTP_MAX_ATTEMPTS wrong codes), everywhere, and only that address", async () => {
    const service = await fresh({ OTP_MAX_PER_IP_PER_HOUR: "3", OTP_MAX_ATTEMPTS: "3" });
    const attacker = "203.0.113.70";
    for (let i = 0; i < 3; i++) expect(await guess(service, freshPhone().e164, REGISTER, attacker, 3)).toEqual(["otp_invalid", "otp_invalid", "otp_attempts_exceeded"]);
    // A phone it never touched, whose owner has just asked for a code elsewhere.
    const phone = freshPhone().e164;
    const owner = "198.51.100.10";
    await service.auth.sendOtp({ phone, purpose: REGISTER }, from(owner));
    const retry = await lockedFor(service.auth.register({ phone, code: "123456", ...names }, from(attacker)));
    expect(retry).toBeGreaterThan(290);
    expect(retry).toBeLessThanOrEqual(300);
    const { user } = await service.auth.register({ phone, code: service.sms.codeFor(phone, "register"), ...names }, from(owner));
    expect(user!.phone).toBe(phone);
  });

  it("counts a send-otp refused by a lock toward nothing: neither the phone's nor the address's send limit", async () => {
    const service = await fresh({ OTP_MAX_PER_IP_PER_HOUR: "3", OTP_MAX_PER_PHONE_PER_HOUR: "4" });
    const phone = freshPhone().e164;
    const attacker = "203.0.113.71";
    await guess(service, phone, REGISTER, attacker, 5);
    await guess(service, phone, REGISTER, attacker, 5);
    let retry = 0;
    for (let i = 0; i < 3; i++) retry = await lockedFor(service.auth.sendOtp({ phone, purpose: REGISTER }, from(attacker)));
    // The phone's third send of four goes to the owner...
    await service.auth.sendOtp({ phone, purpose: REGISTER }, from("198.51.100.11"));
    // ...and once the lock ends the address has its third send of three, the phone its fourth.
    await passTime(service, retry * 1000);
    await service.auth.sendOtp({ phone, purpose: REGISTER }, from(attacker));
    expect(await failure(service.auth.sendOtp({ phone, purpose: REGISTER }, from("198.51.100.12")))).toMatchObject({ reason: "rate_limited" });
  });
});

describe.runIf(realStoresAvailable())("one-time codes in Redis", () => {
  const stores = lab("real");
  afterAll(() => stores.close());

  it("keeps codes only as keyed hashes: no value under the deployment's prefix holds the code", async () => {
    // Ten digits, so a chance match inside a digest or a timestamp is out of the question.
    const service = await stores.service({ OTP_LENGTH: "10" });
    const phone = freshPhone().e164;
    const sent = await service.auth.sendOtp({ phone, purpose: REGISTER });
    const code = service.sms.codeFor(phone, "register");
    expect(code).toMatch(/^\d{10}$/);
    expect(sent.codeLength).toBe(10);
    const redis = sharedRedis();
    try {
      const keys = await keysUnder(redis, redisKeyPrefixOf(service.config));
      const codeKeys = keys.filter((k) => k.includes(phone) && k.endsWith(":otp:register"));
      expect(codeKeys).toHaveLength(1);
      const values: string[] = [];
      for (const key of keys) {
        const type = await redis.type(key);
        if (type === "string") values.push((await redis.get(key)) ?? "");
        else if (type === "hash") values.push(...Object.entries(await redis.hgetall(key)).flat());
        else values.push(`<${type}>`);
      }
      expect(values.length).toBeGreaterThan(3);
      for (const value of values) expect(value).not.toContain(code);
      // What the code key holds is a digest (and the code still works).
      expect((await redis.hgetall(codeKeys[0]!)).digest).toMatch(/^[A-Za-z0-9_-]{43}$/);
    } finally {
      redis.disconnect();
    }
    await service.auth.register({ phone, code, firstName: "Reza", lastName: "Karimi" });
  });
});
