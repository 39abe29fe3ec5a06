/**
 * Wrong codes counted per phone across codes, so resending cannot reset a guesser:
 * past the limit the phone is locked out until the window ends.
 */
import { AppError } from "../errors.js";
import type { CoreDeps } from "../deps.js";
import { otpKeys } from "./keys.js";

/** Wrong codes per phone per window before lock-out (well under 100, as promised). */
export const MAX_FAILURES_PER_PHONE = 15;
export const FAILURE_WINDOW_MS = 3_600_000;

export async function assertNotLockedOut(deps: Pick<CoreDeps, "kv">, phone: string): Promise<void> {
  const failures = await deps.kv.peek(otpKeys.phoneFailures(phone));
  if (failures.count >= MAX_FAILURES_PER_PHONE) {
    throw new AppError("rate_limited", "too many wrong codes", { retryAfterSeconds: Math.max(1, Math.ceil(failures.resetMs / 1000)) });
  }
}

export async function recordFailure(deps: Pick<CoreDeps, "kv">, phone: string): Promise<void> {
  await deps.kv.hit(otpKeys.phoneFailures(phone), FAILURE_WINDOW_MS);
}
