/**
 * Checking a one-time code: one atomic check-and-consume in the store, so parallel
 * guesses never evaluate more than OTP_MAX_ATTEMPTS wrong codes, and a right code
 * works exactly once however many requests carry it.
 */
import { asciiDigits } from "../../lib/digits.js";
import { AppError } from "../errors.js";
import { auditCodeRefused } from "../audit/code-events.js";
import type { CoreDeps } from "../deps.js";
import type { CodeCheck } from "../ports/key-value.js";
import type { User } from "../ports/users.js";
import type { RequestClient } from "../sessions/client.js";
import { codeDigest } from "./digest.js";
import { lockedOutMs, recordFailure, refuseIfLockedOut } from "./failures.js";
import { otpKeys, type OtpPurpose } from "./keys.js";

/**
 * `precondition`, when given, is a refusal that must come before the code is
 * checked (a deactivated account); it runs beside the lock check, so it costs no
 * round trip of its own, and wins over it when both refuse. It answers the
 * number's user when it read it, so a refused code's trail does not read it again.
 */
export async function verifyOtp(
  deps: CoreDeps,
  phone: string,
  purpose: OtpPurpose,
  typed: string,
  client: RequestClient,
  precondition?: () => Promise<{ user: User | undefined }>,
): Promise<void> {
  const { otp } = deps.config;
  const code = asciiDigits(typed.trim());
  if (!new RegExp(`^\\d{${otp.length}}$`).test(code)) {
    throw new AppError("validation_error", `code must be ${otp.length} digits`, { field: "code" });
  }
  const [gate, lock] = await Promise.allSettled([precondition?.(), lockedOutMs(deps, phone, client.ip)]);
  if (gate.status === "rejected") throw gate.reason;
  if (lock.status === "rejected") throw lock.reason;
  // Counted from here on: what came before refused the request or the account, not
  // the code, and a store that fails has checked nothing.
  try {
    refuseIfLockedOut(deps, lock.value);
    await checkCode(deps, phone, purpose, code, client, gate.value);
  } catch (error) {
    if (error instanceof AppError) deps.metrics.otpChecked(purpose, error.reason);
    throw error;
  }
  deps.metrics.otpChecked(purpose, "ok");
}

/** The one atomic check-and-consume; a wrong code is counted toward the locks and
 * audited (about `owner`, the number's user, when already read). */
async function checkCode(deps: CoreDeps, phone: string, purpose: OtpPurpose, code: string, client: RequestClient, owner: { user: User | undefined } | undefined): Promise<void> {
  const { otp } = deps.config;
  const check = await deps.kv.checkCode(otpKeys.code(phone, purpose), codeDigest(deps.otpKey, phone, purpose, code), otp.maxAttempts);
  // A right code resets no count: the owner's login must not wipe the slate of
  // whoever is guessing at the same number.
  if (check.state === "match") return;
  const { phoneLockedMs } = check.state === "mismatch" ? await recordFailure(deps, phone, client.ip) : { phoneLockedMs: 0 };
  const refusal = refusalOf(check, otp.maxAttempts);
  await auditCodeRefused(deps, { phone, purpose, client, reason: refusal.reason, phoneLockedMs, owner });
  throw refusal;
}

/** Why a code that did not match is refused. */
function refusalOf(check: Exclude<CodeCheck, { state: "match" }>, maxAttempts: number): AppError {
  if (check.state === "missing") return new AppError("otp_expired");
  if (check.state === "mismatch" && check.failures < maxAttempts) return new AppError("otp_invalid");
  // Dead before this guess, or by it: until it expires.
  return new AppError("otp_attempts_exceeded", undefined, { retryAfterSeconds: Math.max(1, Math.ceil(check.ttlMs / 1000)) });
}
