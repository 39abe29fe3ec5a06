import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { UnavailableError } from "../../../src/core/errors.js";
import { codeDigest } from "../../../src/core/otp/digest.js";
import { recordFailure } from "../../../src/core/otp/failures.js";
import { otpKeys } from "../../../src/core/otp/keys.js";
import { sendOtp, type SendOtpRequest } from "../../../src/core/otp/send.js";
import { verifyOtp } from "../../../src/core/otp/verify.js";
import { register } from "../../../src/core/users/register.js";
import { coreLab, type CoreLab } from "../support/core-deps.js";

const PHONE = "+989121234567";
const OTHER_PHONE = "+989127654321";
const IP = "203.0.113.7";
const OTHER_IP = "198.51.100.9";
const MINUTE = 60_000;

function request(overrides: Partial<SendOtpRequest> = {}): SendOtpRequest {
  return { phone: PHONE, purpose: "register", clientIp: IP, locale: "fa", ...overrides };
}

/** Makes the lab's random source hand out `codes` in order, and returns the lengths asked for. */
function pinCodes(lab: CoreLab, ...codes: string[]): number[] {
  const asked: number[] = [];
  lab.deps.random = {
    ...lab.deps.random,
    code(length) {
      asked.push(length);
      const code = codes.shift();
      if (code === undefined) throw new Error("no pinned code left");
      return code;
    },
  };
  return asked;
}

/** Sends counted toward each cap: the address's and the phone's. */
async function sends(lab: CoreLab, ip: string, phone: string): Promise<[number, number]> {
  return [(await lab.kv.peek(otpKeys.ipSends(ip))).count, (await lab.kv.peek(otpKeys.phoneSends(phone))).count];
}

async function registered(lab: CoreLab, phone: string): Promise<void> {
  await sendOtp(lab.deps, request({ phone, clientIp: "192.0.2.250" }));
  await register(lab.deps, { phone, code: lab.sms.codeFor(phone, "register"), firstName: "Sara", lastName: "Ahmadi", client: { ip: "192.0.2.250", userAgent: null } });
  lab.sms.sent.length = 0;
}

describe("sendOtp sends", () => {
  it("a fresh code of OTP_LENGTH digits to the normalized phone, in the request's language, and says when it expires", async () => {
    const lab = await coreLab({ env: { OTP_LENGTH: "8", OTP_TTL: "90.4s", OTP_RESEND_INTERVAL: "30.2s" } });
    const asked = pinCodes(lab, "13572468");
    const answer = await sendOtp(lab.deps, request({ phone: "0912 123 4567", locale: "en" }));
    expect(answer).toEqual({ expiresInSeconds: 91, resendAfterSeconds: 31, codeLength: 8 });
    expect(asked).toEqual([8]);
    expect(lab.sms.sent).toEqual([{ to: PHONE, code: "13572468", purpose: "register", locale: "en" }]);
  });

  it("draws real codes from the CSPRNG by default", async () => {
    const lab = await coreLab({ env: { OTP_RESEND_INTERVAL: "0s" } });
    for (let i = 0; i < 5; i++) await sendOtp(lab.deps, request());
    const codes = lab.sms.sent.map((sms) => sms.code);
    for (const code of codes) expect(code).toMatch(/^\d{6}$/);
    expect(new Set(codes).size).toBeGreaterThan(1);
  });

  it("keeps only the code's digest, bound to phone and purpose, for OTP_TTL", async () => {
    const lab = await coreLab({ env: { OTP_TTL: "2m" } });
    pinCodes(lab, "482913");
    await sendOtp(lab.deps, request({ purpose: "register" }));
    const key = otpKeys.code(PHONE, "register");
    expect(await lab.kv.checkCode(key, codeDigest(lab.deps.otpKey, PHONE, "login", "482913"), 5)).toEqual({ state: "mismatch", failures: 1, ttlMs: 2 * MINUTE });
    lab.clock.advance(2 * MINUTE - 1);
    expect(await lab.kv.checkCode(key, codeDigest(lab.deps.otpKey, PHONE, "register", "482913"), 5)).toEqual({ state: "match" });
  });

  it("a new code on resend that replaces the old one", async () => {
    const lab = await coreLab({ env: { OTP_RESEND_INTERVAL: "0s" } });
    pinCodes(lab, "111111", "222222");
    await sendOtp(lab.deps, request());
    await sendOtp(lab.deps, request());
    await expect(verifyOtp(lab.deps, PHONE, "register", "111111", IP)).rejects.toMatchObject({ reason: "otp_invalid" });
    await expect(verifyOtp(lab.deps, PHONE, "register", "222222", IP)).resolves.toBeUndefined();
  });

  it("counts each send toward the address's and the phone's hourly caps", async () => {
    const lab = await coreLab();
    await sendOtp(lab.deps, request());
    expect(await lab.kv.peek(otpKeys.ipSends(IP))).toEqual({ count: 1, resetMs: 60 * MINUTE });
    expect(await lab.kv.peek(otpKeys.phoneSends(PHONE))).toEqual({ count: 1, resetMs: 60 * MINUTE });
  });

  it("resets none of the wrong-code counts", async () => {
    const lab = await coreLab();
    await recordFailure(lab.deps, PHONE, IP);
    await sendOtp(lab.deps, request());
    expect((await lab.kv.peek(otpKeys.ipFailures(IP))).count).toBe(1);
  });
});

describe("sendOtp refuses", () => {
  it("a number that is not a mobile one, or outside PHONE_ALLOWED_REGIONS, as invalid_phone", async () => {
    const lab = await coreLab({ env: { PHONE_ALLOWED_REGIONS: "IR" } });
    for (const phone of ["02112345678", "+447400123456", "0912"]) {
      await expect(sendOtp(lab.deps, request({ phone }))).rejects.toMatchObject({ reason: "invalid_phone" });
    }
    await expect(sendOtp(lab.deps, request({ phone: "" }))).rejects.toMatchObject({ reason: "validation_error", field: "phone" });
    await expect(sendOtp(lab.deps, request({ purpose: "reset" }))).rejects.toMatchObject({ reason: "validation_error", field: "purpose" });
    expect(lab.sms.sent).toEqual([]);
    expect(await sends(lab, IP, PHONE)).toEqual([0, 0]);
  });

  it("a phone locked for this address, with the lock's retry_after, before anything is counted", async () => {
    const lab = await coreLab();
    await lab.kv.set(otpKeys.pairLock(PHONE, IP), "1", 100_500);
    await expect(sendOtp(lab.deps, request())).rejects.toMatchObject({ reason: "rate_limited", retryAfterSeconds: 101 });
    expect(lab.sms.sent).toEqual([]);
    expect(await sends(lab, IP, PHONE)).toEqual([0, 0]);
    await sendOtp(lab.deps, request({ clientIp: OTHER_IP }));
    expect(lab.sms.sent).toHaveLength(1);
  });

  it("registering a registered number and logging in an unknown one, counting neither", async () => {
    const lab = await coreLab();
    await registered(lab, OTHER_PHONE);
    await expect(sendOtp(lab.deps, request({ phone: OTHER_PHONE, purpose: "register" }))).rejects.toMatchObject({ reason: "phone_already_registered" });
    await expect(sendOtp(lab.deps, request({ phone: PHONE, purpose: "login" }))).rejects.toMatchObject({ reason: "phone_not_registered" });
    expect(lab.sms.sent).toEqual([]);
    expect(await sends(lab, IP, PHONE)).toEqual([0, 0]);
    expect(await sends(lab, IP, OTHER_PHONE)).toEqual([0, 1]); // the registration's own send
    // Nor did they start a resend interval.
    await sendOtp(lab.deps, request({ phone: OTHER_PHONE, purpose: "login" }));
    await sendOtp(lab.deps, request({ phone: PHONE, purpose: "register" }));
    expect(lab.sms.sent.map((sms) => [sms.to, sms.purpose])).toEqual([[OTHER_PHONE, "login"], [PHONE, "register"]]);
  });

  it("a login code for a deactivated user as account_disabled, counting nothing; a register code as registered", async () => {
    const lab = await coreLab();
    await registered(lab, OTHER_PHONE);
    lab.stores.admin.setActive((await lab.stores.users.findByPhone(OTHER_PHONE))!.id, false);
    await expect(sendOtp(lab.deps, request({ phone: OTHER_PHONE, purpose: "login" }))).rejects.toMatchObject({ reason: "account_disabled" });
    await expect(sendOtp(lab.deps, request({ phone: OTHER_PHONE, purpose: "register" }))).rejects.toMatchObject({ reason: "phone_already_registered" });
    expect(lab.sms.sent).toEqual([]);
    expect(await sends(lab, IP, OTHER_PHONE)).toEqual([0, 1]); // the registration's own send
  });

  it("a resend of the same phone and purpose within OTP_RESEND_INTERVAL, counting nothing", async () => {
    const lab = await coreLab({ env: { OTP_RESEND_INTERVAL: "60s", ENUMERATION_PROTECTION: "true" } });
    await sendOtp(lab.deps, request());
    lab.clock.advance(20_500);
    await expect(sendOtp(lab.deps, request())).rejects.toMatchObject({ reason: "rate_limited", retryAfterSeconds: 40 });
    await expect(sendOtp(lab.deps, request({ clientIp: OTHER_IP }))).rejects.toMatchObject({ reason: "rate_limited", retryAfterSeconds: 40 });
    expect(await sends(lab, IP, PHONE)).toEqual([1, 1]);
    // Another purpose has its own interval.
    await sendOtp(lab.deps, request({ purpose: "login" }));
    lab.clock.advance(39_500);
    await sendOtp(lab.deps, request());
    expect(lab.sms.sent.map((sms) => sms.purpose)).toEqual(["register", "login", "register"]);
  });

  it("no resend when OTP_RESEND_INTERVAL is 0", async () => {
    const lab = await coreLab({ env: { OTP_RESEND_INTERVAL: "0s" } });
    await sendOtp(lab.deps, request());
    await expect(sendOtp(lab.deps, request())).resolves.toMatchObject({ resendAfterSeconds: 0 });
    expect(lab.sms.sent).toHaveLength(2);
  });

  it("an address past OTP_MAX_PER_IP_PER_HOUR until its hour ends, counting nothing for the phone", async () => {
    const lab = await coreLab({ env: { OTP_MAX_PER_IP_PER_HOUR: "2" } });
    await sendOtp(lab.deps, request({ phone: PHONE }));
    lab.clock.advance(10 * MINUTE);
    await sendOtp(lab.deps, request({ phone: OTHER_PHONE }));
    lab.clock.advance(5 * MINUTE);
    const third = "+989120000003";
    await expect(sendOtp(lab.deps, request({ phone: third }))).rejects.toMatchObject({ reason: "rate_limited", retryAfterSeconds: 45 * 60 });
    expect(await sends(lab, IP, third)).toEqual([2, 0]);
    await sendOtp(lab.deps, request({ phone: third, clientIp: OTHER_IP }));
    lab.clock.advance(45 * MINUTE);
    await sendOtp(lab.deps, request({ phone: "+989120000004" }));
    expect(lab.sms.sent).toHaveLength(4);
  });

  it("a phone past OTP_MAX_PER_PHONE_PER_HOUR until its hour ends, from any address, counting nothing for the address", async () => {
    const lab = await coreLab({ env: { OTP_MAX_PER_PHONE_PER_HOUR: "2", OTP_RESEND_INTERVAL: "0s" } });
    await sendOtp(lab.deps, request());
    lab.clock.advance(10 * MINUTE);
    await sendOtp(lab.deps, request());
    await expect(sendOtp(lab.deps, request({ clientIp: OTHER_IP }))).rejects.toMatchObject({ reason: "rate_limited", retryAfterSeconds: 50 * 60 });
    expect(await sends(lab, OTHER_IP, PHONE)).toEqual([0, 2]);
    lab.clock.advance(50 * MINUTE);
    await sendOtp(lab.deps, request({ clientIp: OTHER_IP }));
    expect(lab.sms.sent).toHaveLength(3);
  });

  it("the send that parallel ones pushed past the address's cap, with that cap's retry_after, leaving no resend interval", async () => {
    const lab = await coreLab({ env: { OTP_MAX_PER_IP_PER_HOUR: "2" } });
    await sendOtp(lab.deps, request({ phone: "+989120000001" }));
    lab.clock.advance(10 * MINUTE);
    const results = await Promise.allSettled([PHONE, OTHER_PHONE].map((phone) => sendOtp(lab.deps, request({ phone }))));
    const refused = results.filter((result) => result.status === "rejected");
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ reason: { reason: "rate_limited", retryAfterSeconds: 50 * 60 } });
    expect(lab.sms.sent).toHaveLength(2);
    const refusedPhone = results[0]!.status === "rejected" ? PHONE : OTHER_PHONE;
    expect(await lab.kv.getMany([otpKeys.resend(refusedPhone, "register")])).toEqual([null]);
    await sendOtp(lab.deps, request({ phone: refusedPhone, clientIp: OTHER_IP }));
  });

  it("the send that parallel ones pushed past the phone's cap, with that cap's retry_after", async () => {
    const lab = await coreLab({ env: { OTP_MAX_PER_PHONE_PER_HOUR: "2", ENUMERATION_PROTECTION: "true" } });
    await sendOtp(lab.deps, request({ purpose: "register", clientIp: OTHER_IP }));
    lab.clock.advance(11 * MINUTE);
    const results = await Promise.allSettled([sendOtp(lab.deps, request({ purpose: "register" })), sendOtp(lab.deps, request({ purpose: "login" }))]);
    const refused = results.filter((result) => result.status === "rejected");
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ reason: { reason: "rate_limited", retryAfterSeconds: 49 * 60 } });
    expect(lab.sms.sent).toHaveLength(2);
  });
});

describe("sendOtp under ENUMERATION_PROTECTION", () => {
  it("sends registered and unknown numbers a code alike, for either purpose", async () => {
    const lab = await coreLab({ env: { ENUMERATION_PROTECTION: "true" } });
    await registered(lab, OTHER_PHONE);
    lab.clock.advance(MINUTE); // past the registration's resend interval
    const answers = [
      await sendOtp(lab.deps, request({ phone: OTHER_PHONE, purpose: "register" })),
      await sendOtp(lab.deps, request({ phone: PHONE, purpose: "login" })),
      await sendOtp(lab.deps, request({ phone: OTHER_PHONE, purpose: "login" })),
    ];
    expect(answers).toEqual(Array(3).fill({ expiresInSeconds: 120, resendAfterSeconds: 60, codeLength: 6 }));
    expect(lab.sms.sent.map((sms) => [sms.to, sms.purpose])).toEqual([[OTHER_PHONE, "register"], [PHONE, "login"], [OTHER_PHONE, "login"]]);
  });

  it("sends a deactivated user a login code as it sends anyone", async () => {
    const lab = await coreLab({ env: { ENUMERATION_PROTECTION: "true" } });
    await registered(lab, OTHER_PHONE);
    lab.stores.admin.setActive((await lab.stores.users.findByPhone(OTHER_PHONE))!.id, false);
    lab.clock.advance(MINUTE);
    expect(await sendOtp(lab.deps, request({ phone: OTHER_PHONE, purpose: "login" }))).toEqual(await sendOtp(lab.deps, request({ phone: PHONE, purpose: "login" })));
    expect(lab.sms.sent.map((sms) => [sms.to, sms.purpose])).toEqual([[OTHER_PHONE, "login"], [PHONE, "login"]]);
  });
});

describe("sendOtp when the SMS fails", () => {
  function logged(lab: CoreLab): string[] {
    const lines: string[] = [];
    lab.deps.log = pino({ level: "info" }, { write: (line: string) => lines.push(line) });
    return lines;
  }

  it("answers sms_unavailable, logs the provider's failure without the code, and leaves no usable code", async () => {
    const lab = await coreLab();
    const lines = logged(lab);
    pinCodes(lab, "975310");
    const outage = new UnavailableError("sms", "provider answered 503");
    lab.sms.failWith(outage);
    await expect(sendOtp(lab.deps, request())).rejects.toMatchObject({ name: "AppError", reason: "sms_unavailable", message: "sms_unavailable", cause: outage });
    expect(lines.map((line) => JSON.parse(line) as unknown)).toEqual([
      expect.objectContaining({ level: 50, msg: "SMS provider failed", err: "provider answered 503", provider: "test-outbox" }),
    ]);
    expect(lines.join("")).not.toContain("975310");
    await expect(verifyOtp(lab.deps, PHONE, "register", "975310", IP)).rejects.toMatchObject({ reason: "otp_expired" });
  });

  it("still counts the send: pumping costs money either way", async () => {
    const lab = await coreLab();
    lab.sms.failWith(new UnavailableError("sms", "timeout"));
    await expect(sendOtp(lab.deps, request())).rejects.toMatchObject({ reason: "sms_unavailable" });
    expect(await sends(lab, IP, PHONE)).toEqual([1, 1]);
    lab.sms.failWith(undefined);
    await expect(sendOtp(lab.deps, request())).rejects.toMatchObject({ reason: "rate_limited", retryAfterSeconds: 60 });
  });

  it("passes on any other failure as it is, also leaving no usable code", async () => {
    const lab = await coreLab();
    const lines = logged(lab);
    pinCodes(lab, "864200");
    const bug = new TypeError("the sender broke");
    lab.sms.failWith(bug);
    await expect(sendOtp(lab.deps, request())).rejects.toBe(bug);
    expect(lines).toEqual([]);
    await expect(verifyOtp(lab.deps, PHONE, "register", "864200", IP)).rejects.toMatchObject({ reason: "otp_expired" });
  });
});
