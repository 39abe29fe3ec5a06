/**
 * Wrong codes, counted three ways, so guessing stays hopeless while no stranger at
 * another address can keep a number's owner out:
 * - per phone and client address: from the ADDRESS_SHARE_PER_PHONE-th in the
 *   phone's hour on, each wrong code locks that address (only) out of that phone,
 *   with back-off;
 * - per phone over all addresses, each adding at most its ADDRESS_SHARE_PER_PHONE:
 *   MAX_FAILURES_PER_PHONE lock the phone for everyone until the hour ends, a
 *   backstop against guessing from many addresses that one address cannot reach;
 * - per address over all phones: past its hourly budget each wrong code locks the
 *   address out of every phone, with back-off.
 * Resending resets none of them. SECURITY.md works out what they allow.
 */
import type { Config } from "../../config.js";
import { AppError } from "../errors.js";
import type { CoreDeps } from "../deps.js";
import { lockWithBackoff } from "./backoff.js";
import { otpKeys } from "./keys.js";

/** Wrong codes per phone per window before it locks for everyone (well under 100, as promised). */
export const MAX_FAILURES_PER_PHONE = 15;
/** One address's wrong codes on a phone per window before it is locked out of it;
 * also the most it adds toward MAX_FAILURES_PER_PHONE. Two codes' worth. */
export const ADDRESS_SHARE_PER_PHONE = 10;
export const FAILURE_WINDOW_MS = 3_600_000;

type Deps = Pick<CoreDeps, "kv" | "clock" | "config">;

/** An address may fail every code it may ask for in an hour (the send cap says how
 * many people one address may stand for). */
export function addressBudget(config: Config): number {
  return config.otp.maxPerIpPerHour * config.otp.maxAttempts;
}

/** How long the longest lock that applies to this phone and address still holds (0: none). */
export async function lockedOutMs(deps: Pick<CoreDeps, "kv">, phone: string, clientIp: string): Promise<number> {
  const locks = [otpKeys.phoneLock(phone), otpKeys.pairLock(phone, clientIp), otpKeys.ipLock(clientIp)];
  const left = await Promise.all(locks.map(async (key) => (await deps.kv.peek(key)).resetMs));
  return Math.max(...left);
}

/** Refuses (and counts the refusal) while a lock found by lockedOutMs holds. */
export function refuseIfLockedOut(deps: Pick<CoreDeps, "metrics">, ms: number): void {
  if (ms <= 0) return;
  deps.metrics.rateLimited("otp_lockout");
  throw new AppError("rate_limited", "too many wrong codes", { retryAfterSeconds: Math.max(1, Math.ceil(ms / 1000)) });
}

/** Refuses with the longest lock that applies to this phone and address. */
export async function assertNotLockedOut(deps: Pick<CoreDeps, "kv" | "metrics">, phone: string, clientIp: string): Promise<void> {
  refuseIfLockedOut(deps, await lockedOutMs(deps, phone, clientIp));
}

/** What one wrong code did: `phoneLockedMs` > 0 when it engaged the per-phone lock
 * (for that long), which happens once per window however guesses race. */
export interface RecordedFailure {
  phoneLockedMs: number;
}

export async function recordFailure(deps: Deps, phone: string, clientIp: string): Promise<RecordedFailure> {
  const [onPhone] = await Promise.all([countOnPhone(deps, phone, clientIp), countForAddress(deps, clientIp)]);
  return onPhone;
}

async function countOnPhone(deps: Deps, phone: string, clientIp: string): Promise<RecordedFailure> {
  // The address's share and the phone's total in one step on one key: always the
  // same window, also under parallel guesses.
  const counted = await deps.kv.hitShared(otpKeys.phoneFailures(phone), clientIp, ADDRESS_SHARE_PER_PHONE, FAILURE_WINDOW_MS);
  const locks: Promise<void>[] = [];
  if (counted.total >= MAX_FAILURES_PER_PHONE && counted.resetMs > 0) {
    locks.push(deps.kv.set(otpKeys.phoneLock(phone), "1", counted.resetMs));
  }
  if (counted.byMember >= ADDRESS_SHARE_PER_PHONE) {
    locks.push(lockWithBackoff(deps, { lock: otpKeys.pairLock(phone, clientIp), locks: otpKeys.pairLocks(phone, clientIp) }));
  }
  await Promise.all(locks);
  // The total moves only by counted hits, one at a time: exactly one hit brings it
  // to the limit. Later ones (parallel guesses, an address past its share) only
  // set the lock again.
  const engaged = counted.total === MAX_FAILURES_PER_PHONE && counted.byMember <= ADDRESS_SHARE_PER_PHONE && counted.resetMs > 0;
  return { phoneLockedMs: engaged ? counted.resetMs : 0 };
}

async function countForAddress(deps: Deps, clientIp: string): Promise<void> {
  const { count } = await deps.kv.hit(otpKeys.ipFailures(clientIp), FAILURE_WINDOW_MS);
  if (count >= addressBudget(deps.config)) {
    await lockWithBackoff(deps, { lock: otpKeys.ipLock(clientIp), locks: otpKeys.ipLocks(clientIp) });
  }
}
