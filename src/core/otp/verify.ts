/**
 * Checking a one-time code. Each check takes one attempt atomically before the
 * comparison, so parallel guesses never evaluate more than OTP_MAX_ATTEMPTS; a match
 * consumes the code with a compare-and-delete, so it works exactly once.
 */
import { AppError } from "../errors.js";
import type { CoreDeps } from "../deps.js";
import { codeDigest, digestsEqual } from "./digest.js";
import { assertNotLockedOut, recordFailure } from "./failures.js";
import { otpKeys, type OtpPurpose } from "./keys.js";

export async function verifyOtp(deps: CoreDeps, phone: string, purpose: OtpPurpose, code: string): Promise<void> {
  const { otp } = deps.config;
  if (!new RegExp(`^\\d{${otp.length}}$`).test(code)) {
    throw new AppError("validation_error", `code must be ${otp.length} digits`, { field: "code" });
  }
  await assertNotLockedOut(deps, phone);
  const key = otpKeys.code(phone, purpose);
  const attempt = await deps.kv.takeCodeAttempt(key, otp.maxAttempts);
  if (attempt.state === "missing") throw new AppError("otp_expired");
  if (attempt.state === "exhausted") {
    throw new AppError("otp_attempts_exceeded", undefined, { retryAfterSeconds: Math.max(1, Math.ceil(attempt.ttlMs / 1000)) });
  }
  if (digestsEqual(codeDigest(deps.otpKey, phone, purpose, code), attempt.digest)) {
    if (await deps.kv.consumeCode(key, attempt.version)) {
      await deps.kv.del(otpKeys.phoneFailures(phone));
      return;
    }
    throw new AppError("otp_expired", "code already used");
  }
  await recordFailure(deps, phone);
  if (attempt.attempt >= otp.maxAttempts) {
    throw new AppError("otp_attempts_exceeded", undefined, { retryAfterSeconds: Math.max(1, Math.ceil(otp.ttlMs / 1000)) });
  }
  throw new AppError("otp_invalid");
}
