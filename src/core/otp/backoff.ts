/**
 * Locks that back off: the first lasts FIRST_LOCK_MS, each further one within
 * LOCK_MEMORY_MS of the first twice as long as the one before, up to MAX_LOCK_MS.
 * A lock is a key that expires, so nothing has to lift it.
 */
import type { CoreDeps } from "../deps.js";

export const FIRST_LOCK_MS = 5 * 60_000;
export const LOCK_MEMORY_MS = 24 * 3_600_000;
export const MAX_LOCK_MS = 24 * 3_600_000;

export interface BackoffKeys {
  /** The lock itself (holds the instant it ends). */
  lock: string;
  /** How many locks there have been within LOCK_MEMORY_MS. */
  locks: string;
}

/** The length of the `nth` lock (1-based). */
export function backoffMs(nth: number): number {
  return Math.min(FIRST_LOCK_MS * 2 ** Math.min(nth - 1, 30), MAX_LOCK_MS);
}

export async function lockWithBackoff(deps: Pick<CoreDeps, "kv" | "clock">, keys: BackoffKeys): Promise<void> {
  const { count } = await deps.kv.hit(keys.locks, LOCK_MEMORY_MS);
  const ms = backoffMs(count);
  // A watermark: parallel failures each lock, and a shorter lock never cuts a longer one short.
  await deps.kv.raise(keys.lock, deps.clock.now() + ms, ms);
}
