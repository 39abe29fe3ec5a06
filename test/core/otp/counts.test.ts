/**
 * What sending and checking codes count: each check's result by purpose, and which
 * limit refused a send or a check. Refusals that are not about the code (its shape,
 * a disabled account) and store failures count nothing.
 */
import { describe, expect, it } from "vitest";
import { UnavailableError } from "../../../src/core/errors.js";
import { otpKeys } from "../../../src/core/otp/keys.js";
import { sendOtp, type SendOtpRequest } from "../../../src/core/otp/send.js";
import { verifyOtp } from "../../../src/core/otp/verify.js";
import { login } from "../../../src/core/users/login.js";
import { coreLab, type CoreLab, type CoreLabOptions } from "../support/core-deps.js";
import { recordedMetrics, type RecordedMetrics } from "../support/recorded-metrics.js";
import { refusal, signUp } from "../support/signed-in.js";

const PHONE = "+989121234567";
const IP = "203.0.113.7";
const CLIENT = { ip: IP, userAgent: null };
const MINUTE = 60_000;

async function countedLab(options: CoreLabOptions = {}): Promise<{ lab: CoreLab; metrics: RecordedMetrics }> {
  const metrics = recordedMetrics();
  return { lab: await coreLab({ ...options, metrics }), metrics };
}

function request(overrides: Partial<SendOtpRequest> = {}): SendOtpRequest {
  return { phone: PHONE, purpose: "register", client: CLIENT, locale: "en", ...overrides };
}

/** A code of the same length that is not `code`. */
function wrong(code: string): string {
  return String((Number(code) + 1) % 10 ** code.length).padStart(code.length, "0");
}

describe("verifyOtp counts each check of a code", () => {
  it("ok for a right code, otp_invalid for a wrong one, otp_expired for one spent, by purpose", async () => {
    const { lab, metrics } = await countedLab();
    await sendOtp(lab.deps, request());
    const code = lab.sms.codeFor(PHONE, "register");
    metrics.take();
    await expect(verifyOtp(lab.deps, PHONE, "register", wrong(code), CLIENT)).rejects.toMatchObject({ reason: "otp_invalid" });
    await verifyOtp(lab.deps, PHONE, "register", code, CLIENT);
    await expect(verifyOtp(lab.deps, PHONE, "register", code, CLIENT)).rejects.toMatchObject({ reason: "otp_expired" });
    expect(metrics.take()).toEqual([
      ["otpChecked", "register", "otp_invalid"],
      ["otpChecked", "register", "ok"],
      ["otpChecked", "register", "otp_expired"],
    ]);
  });

  it("otp_attempts_exceeded for the guess that kills the code and every one after", async () => {
    const { lab, metrics } = await countedLab({ env: { OTP_MAX_ATTEMPTS: "2" } });
    await sendOtp(lab.deps, request());
    const code = lab.sms.codeFor(PHONE, "register");
    metrics.take();
    const reasons = [];
    for (let i = 0; i < 3; i++) reasons.push(await refusal(verifyOtp(lab.deps, PHONE, "register", i === 2 ? code : wrong(code), CLIENT)));
    expect(reasons).toEqual(["otp_invalid", "otp_attempts_exceeded", "otp_attempts_exceeded"]);
    expect(metrics.take()).toEqual(reasons.map((reason) => ["otpChecked", "register", reason]));
  });

  it("a lock-out is a check refused as rate_limited, and the otp_lockout limit", async () => {
    const { lab, metrics } = await countedLab();
    await sendOtp(lab.deps, request());
    metrics.take();
    await lab.kv.set(otpKeys.pairLock(PHONE, IP), "1", MINUTE);
    expect(await refusal(verifyOtp(lab.deps, PHONE, "register", lab.sms.codeFor(PHONE, "register"), CLIENT))).toBe("rate_limited");
    expect(metrics.take()).toEqual([
      ["rateLimited", "otp_lockout"],
      ["otpChecked", "register", "rate_limited"],
    ]);
  });

  it("counts nothing for a code of the wrong shape, a disabled account's login, or a store that fails", async () => {
    const { lab, metrics } = await countedLab();
    const { user } = await signUp(lab);
    await sendOtp(lab.deps, request({ phone: user.phone, purpose: "login" }));
    const code = lab.sms.codeFor(user.phone, "login");
    await lab.stores.users.updateFlags(user.id, { isActive: false }, new Date(lab.clock.now()), { type: "admin.user_updated", actor: { kind: "system" }, client: null });
    metrics.take();
    expect(await refusal(verifyOtp(lab.deps, user.phone, "login", "12", CLIENT))).toBe("validation_error");
    expect(await refusal(login(lab.deps, { phone: user.phone, code, client: CLIENT }))).toBe("account_disabled");
    lab.deps.kv = { ...lab.kv, checkCode: () => Promise.reject(new UnavailableError("cache", "down")) };
    await expect(verifyOtp(lab.deps, user.phone, "login", code, CLIENT)).rejects.toBeInstanceOf(UnavailableError);
    expect(metrics.take()).toEqual([]);
  });
});

describe("sendOtp counts the limit that refused", () => {
  it("otp_resend while the interval runs", async () => {
    const { lab, metrics } = await countedLab({ env: { OTP_RESEND_INTERVAL: "60s" } });
    await sendOtp(lab.deps, request());
    expect(await refusal(sendOtp(lab.deps, request()))).toBe("rate_limited");
    expect(metrics.take()).toEqual([["rateLimited", "otp_resend"]]);
  });

  it("otp_per_phone past the phone's hourly cap, otp_per_ip past the address's", async () => {
    const { lab, metrics } = await countedLab({ env: { OTP_RESEND_INTERVAL: "0s", OTP_MAX_PER_PHONE_PER_HOUR: "1", OTP_MAX_PER_IP_PER_HOUR: "2" } });
    await sendOtp(lab.deps, request());
    expect(await refusal(sendOtp(lab.deps, request()))).toBe("rate_limited");
    await sendOtp(lab.deps, request({ phone: "+989127654321" }));
    expect(await refusal(sendOtp(lab.deps, request({ phone: "+989121111111" })))).toBe("rate_limited");
    expect(metrics.take()).toEqual([
      ["rateLimited", "otp_per_phone"],
      ["rateLimited", "otp_per_ip"],
    ]);
  });

  it("the cap that parallel sends pass together refuses the later ones as that cap", async () => {
    const { lab, metrics } = await countedLab({ env: { OTP_RESEND_INTERVAL: "0s", OTP_MAX_PER_PHONE_PER_HOUR: "1" } });
    const results = await Promise.allSettled([sendOtp(lab.deps, request()), sendOtp(lab.deps, request())]);
    expect(results.map((r) => r.status).sort()).toEqual(["fulfilled", "rejected"]);
    expect(metrics.take()).toEqual([["rateLimited", "otp_per_phone"]]);
  });

  it("otp_lockout for a send while the phone and address are locked out", async () => {
    const { lab, metrics } = await countedLab();
    await lab.kv.set(otpKeys.pairLock(PHONE, IP), "1", MINUTE);
    expect(await refusal(sendOtp(lab.deps, request()))).toBe("rate_limited");
    expect(metrics.take()).toEqual([["rateLimited", "otp_lockout"]]);
  });

  it("a send that passes every limit counts none", async () => {
    const { lab, metrics } = await countedLab();
    await sendOtp(lab.deps, request());
    expect(metrics.take()).toEqual([]);
  });
});
