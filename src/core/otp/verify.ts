/**
 * Checking a one-time code: one atomic check-and-consume in the store, so parallel
 * guesses never evaluate more than OTP_MAX_ATTEMPTS wrong codes, and a right code
 * works exactly once however many requests carry it.
 */
import { asciiDigits } from "../../lib/digits.js";
import { AppError } from "../errors.js";
import type { CoreDeps } from "../deps.js";
import { codeDigest } from "./digest.js";
import { assertNotLockedOut, recordFailure } from "./failures.js";
import { otpKeys, type OtpPurpose } from "./keys.js";

export async function verifyOtp(deps: CoreDeps, phone: string, purpose: OtpPurpose, typed: string, clientIp: string): Promise<void> {
  const { otp } = deps.config;
  const code = asciiDigits(typed.trim());
  if (!new RegExp(`^\\d{${otp.length}}$`).test(code)) {
    throw new AppError("validation_error", `code must be ${otp.length} digits`, { field: "code" });
  }
  await assertNotLockedOut(deps, phone, clientIp);
  const key = otpKeys.code(phone, purpose);
  const check = await deps.kv.checkCode(key, codeDigest(deps.otpKey, phone, purpose, code), otp.maxAttempts);
  switch (check.state) {
    case "match":
      // A right code resets no count: the owner's login must not wipe the slate of
      // whoever is guessing at the same number.
      return;
    case "missing":
      throw new AppError("otp_expired");
    case "exhausted":
      throw new AppError("otp_attempts_exceeded", undefined, { retryAfterSeconds: Math.max(1, Math.ceil(check.ttlMs / 1000)) });
    case "mismatch":
      await recordFailure(deps, phone, clientIp);
      if (check.failures >= otp.maxAttempts) {
        throw new AppError("otp_attempts_exceeded", undefined, { retryAfterSeconds: Math.max(1, Math.ceil(check.ttlMs / 1000)) });
      }
      throw new AppError("otp_invalid");
  }
}
