/**
 * Values held in-process briefly, so a warm hot path asks Redis or PostgreSQL
 * nothing: session state (Verify, every authenticated call; 1 s) and profiles
 * (GetProfile, the dashboard; longer, since they are not security state). A copy is
 * safe because it is bounded three ways:
 * - every change is announced to all processes (pub/sub) and drops the copies;
 * - an entry lives at most `ttlMs`, so even a lost announcement is seen everywhere
 *   within that time;
 * - while announcements are not being heard (Redis down, reconnecting), no copy is
 *   trusted, and all are dropped when they are heard again: it never outlives an
 *   outage, and Verify then fails closed as before.
 */
import type { KeyValueStore } from "./ports/key-value.js";

export interface LocalCopies<T> {
  /** The value of `key`, when held, fresh, and changes are being heard. */
  get(key: string): T | undefined;
  /** A mark to take before reading a value from the shared stores, for `put`. */
  mark(): number;
  /** Keeps a value read since `mark`, unless a change was heard meanwhile (the value
   * might predate it). */
  put(key: string, value: T, mark: number): void;
  drop(key: string): void;
}

/** Staleness is real elapsed time (monotonic), not the domain clock tests may stop. */
export function createLocalCopies<T>(kv: Pick<KeyValueStore, "onChange" | "hearingChanges">, ttlMs: number, maxEntries = 100_000): LocalCopies<T> {
  const entries = new Map<string, { value: T; expiresAt: number }>();
  /** Counts changes heard; a read that straddles one is not kept. */
  let changes = 0;
  const drop = (key: string | undefined) => {
    changes += 1;
    if (key === undefined) entries.clear();
    else entries.delete(key);
  };
  kv.onChange(drop);

  return {
    get(key) {
      if (!kv.hearingChanges) return undefined;
      const entry = entries.get(key);
      if (entry === undefined) return undefined;
      if (entry.expiresAt <= performance.now()) {
        entries.delete(key);
        return undefined;
      }
      return entry.value;
    },
    mark: () => changes,
    put(key, value, mark) {
      if (!kv.hearingChanges || mark !== changes) return;
      if (entries.size >= maxEntries && !entries.has(key)) entries.delete(entries.keys().next().value!);
      entries.set(key, { value, expiresAt: performance.now() + ttlMs });
    },
    drop,
  };
}
