import { describe, expect, it } from "vitest";
import { codeDigest } from "../../../src/core/otp/digest.js";
import { otpKeys } from "../../../src/core/otp/keys.js";
import { sendOtp } from "../../../src/core/otp/send.js";
import { verifyOtp } from "../../../src/core/otp/verify.js";
import { coreLab, type CoreLab } from "../support/core-deps.js";

const PHONE = "+989121234567";
const OTHER_PHONE = "+989127654321";
const IP = "203.0.113.7";
const OTHER_IP = "198.51.100.9";
const CLIENT = { ip: IP, userAgent: null };
const OTHER_CLIENT = { ip: OTHER_IP, userAgent: null };

/** Sends a registration code to `phone` and returns it as the SMS carried it. */
async function sentCode(lab: CoreLab, phone = PHONE): Promise<string> {
  await sendOtp(lab.deps, { phone, purpose: "register", client: CLIENT, locale: "en" });
  return lab.sms.codeFor(phone, "register");
}

/** A code of the same length that is not `code` (the nth such). */
function wrong(code: string, nth = 1): string {
  const modulus = 10 ** code.length;
  return String((Number(code) + nth) % modulus).padStart(code.length, "0");
}

const PERSIAN = "۰۱۲۳۴۵۶۷۸۹";
const ARABIC_INDIC = "٠١٢٣٤٥٦٧٨٩";
const inDigits = (code: string, digits: string) => [...code].map((d) => digits[Number(d)]).join("");

describe("verifyOtp", () => {
  it("passes a right code once: the code is consumed", async () => {
    const lab = await coreLab();
    const code = await sentCode(lab);
    await expect(verifyOtp(lab.deps, PHONE, "register", code, CLIENT)).resolves.toBeUndefined();
    await expect(verifyOtp(lab.deps, PHONE, "register", code, CLIENT)).rejects.toMatchObject({ reason: "otp_expired", retryAfterSeconds: undefined });
  });

  it("accepts the code with spaces around it, and in Persian or Arabic-Indic digits", async () => {
    const lab = await coreLab({ env: { OTP_RESEND_INTERVAL: "0s" } });
    await expect(verifyOtp(lab.deps, PHONE, "register", ` ${await sentCode(lab)}\t`, CLIENT)).resolves.toBeUndefined();
    await expect(verifyOtp(lab.deps, PHONE, "register", inDigits(await sentCode(lab), PERSIAN), CLIENT)).resolves.toBeUndefined();
    await expect(verifyOtp(lab.deps, PHONE, "register", inDigits(await sentCode(lab), ARABIC_INDIC), CLIENT)).resolves.toBeUndefined();
  });

  it("refuses a code of the wrong shape as validation_error without spending an attempt", async () => {
    const lab = await coreLab({ env: { OTP_MAX_ATTEMPTS: "1" } });
    const code = await sentCode(lab);
    for (const typed of ["", "   ", code.slice(1), `${code}0`, `0${code}`, `${code.slice(1)}a`, `${code.slice(0, 3)} ${code.slice(3)}`, `-${code.slice(1)}`]) {
      await expect(verifyOtp(lab.deps, PHONE, "register", typed, CLIENT)).rejects.toMatchObject({
        reason: "validation_error",
        field: "code",
        message: "code must be 6 digits",
      });
    }
    expect((await lab.kv.peek(otpKeys.ipFailures(IP))).count).toBe(0);
    await expect(verifyOtp(lab.deps, PHONE, "register", code, CLIENT)).resolves.toBeUndefined();
  });

  it("takes the code length from OTP_LENGTH", async () => {
    const lab = await coreLab({ env: { OTP_LENGTH: "8" } });
    const code = await sentCode(lab);
    expect(code).toMatch(/^\d{8}$/);
    await expect(verifyOtp(lab.deps, PHONE, "register", code.slice(2), CLIENT)).rejects.toMatchObject({ reason: "validation_error", message: "code must be 8 digits" });
    await expect(verifyOtp(lab.deps, PHONE, "register", code, CLIENT)).resolves.toBeUndefined();
  });

  it("answers otp_invalid to a wrong code, and otp_attempts_exceeded from the OTP_MAX_ATTEMPTS-th on, for the code's remaining TTL", async () => {
    const lab = await coreLab({ env: { OTP_MAX_ATTEMPTS: "3", OTP_TTL: "2m" } });
    const code = await sentCode(lab);
    await expect(verifyOtp(lab.deps, PHONE, "register", wrong(code, 1), CLIENT)).rejects.toMatchObject({ reason: "otp_invalid", retryAfterSeconds: undefined });
    await expect(verifyOtp(lab.deps, PHONE, "register", wrong(code, 2), CLIENT)).rejects.toMatchObject({ reason: "otp_invalid", retryAfterSeconds: undefined });
    lab.clock.advance(30_500);
    // The last attempt is spent on this wrong code: 89.5 s left, rounded up.
    await expect(verifyOtp(lab.deps, PHONE, "register", wrong(code, 3), CLIENT)).rejects.toMatchObject({ reason: "otp_attempts_exceeded", retryAfterSeconds: 90 });
    // Dead: the right code no longer works either, and says how long until it is gone.
    lab.clock.advance(29_500);
    await expect(verifyOtp(lab.deps, PHONE, "register", code, CLIENT)).rejects.toMatchObject({ reason: "otp_attempts_exceeded", retryAfterSeconds: 60 });
    lab.clock.advance(59_900);
    await expect(verifyOtp(lab.deps, PHONE, "register", code, CLIENT)).rejects.toMatchObject({ reason: "otp_attempts_exceeded", retryAfterSeconds: 1 });
    lab.clock.advance(100);
    await expect(verifyOtp(lab.deps, PHONE, "register", code, CLIENT)).rejects.toMatchObject({ reason: "otp_expired" });
  });

  it("lets a right code pass after fewer than OTP_MAX_ATTEMPTS wrong ones", async () => {
    const lab = await coreLab({ env: { OTP_MAX_ATTEMPTS: "3" } });
    const code = await sentCode(lab);
    for (const nth of [1, 2]) await expect(verifyOtp(lab.deps, PHONE, "register", wrong(code, nth), CLIENT)).rejects.toMatchObject({ reason: "otp_invalid" });
    await expect(verifyOtp(lab.deps, PHONE, "register", code, CLIENT)).resolves.toBeUndefined();
  });

  it("answers otp_expired when no code was sent, and once OTP_TTL has passed", async () => {
    const lab = await coreLab({ env: { OTP_TTL: "90s" } });
    await expect(verifyOtp(lab.deps, PHONE, "register", "123456", CLIENT)).rejects.toMatchObject({ reason: "otp_expired", retryAfterSeconds: undefined });

    const lasting = await sentCode(lab);
    lab.clock.advance(89_999);
    await expect(verifyOtp(lab.deps, PHONE, "register", lasting, CLIENT)).resolves.toBeUndefined();

    const expiring = await sentCode(lab, OTHER_PHONE);
    lab.clock.advance(90_000);
    await expect(verifyOtp(lab.deps, OTHER_PHONE, "register", expiring, CLIENT)).rejects.toMatchObject({ reason: "otp_expired" });
  });

  it("does not take a code for one phone or purpose for another", async () => {
    const lab = await coreLab();
    const code = await sentCode(lab);
    await expect(verifyOtp(lab.deps, OTHER_PHONE, "register", code, CLIENT)).rejects.toMatchObject({ reason: "otp_expired" });
    await expect(verifyOtp(lab.deps, PHONE, "login", code, CLIENT)).rejects.toMatchObject({ reason: "otp_expired" });
    await expect(verifyOtp(lab.deps, PHONE, "register", code, CLIENT)).resolves.toBeUndefined();
  });

  it("checks the digest bound to the phone and purpose it verifies", async () => {
    const lab = await coreLab();
    const code = "246810";
    // The digest of the same code for another phone or purpose, planted at this phone's key, does not match.
    for (const [phone, purpose] of [[OTHER_PHONE, "register"], [PHONE, "login"]] as const) {
      await lab.kv.putCode(otpKeys.code(PHONE, "register"), codeDigest(lab.deps.otpKey, phone, purpose, code), 60_000);
      await expect(verifyOtp(lab.deps, PHONE, "register", code, CLIENT)).rejects.toMatchObject({ reason: "otp_invalid" });
    }
    await lab.kv.putCode(otpKeys.code(PHONE, "register"), codeDigest(lab.deps.otpKey, PHONE, "register", code), 60_000);
    await expect(verifyOtp(lab.deps, PHONE, "register", code, CLIENT)).resolves.toBeUndefined();
  });

  it("counts each wrong code against the phone and the address, and none of the right or malformed ones", async () => {
    const lab = await coreLab();
    const code = await sentCode(lab);
    await expect(verifyOtp(lab.deps, PHONE, "register", "12", CLIENT)).rejects.toMatchObject({ reason: "validation_error" });
    await expect(verifyOtp(lab.deps, PHONE, "register", wrong(code), CLIENT)).rejects.toMatchObject({ reason: "otp_invalid" });
    await expect(verifyOtp(lab.deps, PHONE, "register", code, CLIENT)).resolves.toBeUndefined();
    expect(await lab.kv.peek(otpKeys.ipFailures(IP))).toEqual({ count: 1, resetMs: 3_600_000 });
    // Probing the phone's shared counter counts one more: the wrong code was the first.
    expect(await lab.kv.hitShared(otpKeys.phoneFailures(PHONE), IP, 10, 3_600_000)).toMatchObject({ total: 2, byMember: 2 });
  });

  it("refuses a locked-out address before checking the code, which stays usable elsewhere", async () => {
    const lab = await coreLab({ env: { OTP_MAX_ATTEMPTS: "20" } });
    const code = await sentCode(lab);
    for (let nth = 1; nth <= 10; nth++) {
      await expect(verifyOtp(lab.deps, PHONE, "register", wrong(code, nth), CLIENT)).rejects.toMatchObject({ reason: "otp_invalid" });
    }
    // The 10th wrong code locked this address out of this phone for 5 minutes.
    lab.clock.advance(1_000);
    await expect(verifyOtp(lab.deps, PHONE, "register", code, CLIENT)).rejects.toMatchObject({ reason: "rate_limited", retryAfterSeconds: 299 });
    await expect(verifyOtp(lab.deps, PHONE, "register", code, OTHER_CLIENT)).resolves.toBeUndefined();
  });

  it("answers the lock, not the code's state, while the phone is locked for everyone", async () => {
    const lab = await coreLab();
    await lab.kv.set(otpKeys.phoneLock(PHONE), "1", 42_000);
    await expect(verifyOtp(lab.deps, PHONE, "register", "123456", OTHER_CLIENT)).rejects.toMatchObject({ reason: "rate_limited", retryAfterSeconds: 42 });
  });
});
