/**
 * The fast, expiring state of the service: one-time codes, rate counters and the
 * read-through cache of session revocation state. Redis in production; an in-process
 * map for the embedded single-process default. Both implement exactly this contract,
 * and every operation that must be atomic is atomic in both.
 *
 * Keys are given without the deployment prefix (the store adds REDIS_KEY_PREFIX).
 * Keys that are read together by `getMany` share a Redis Cluster hash tag (`{...}`).
 * Any failure to reach the store is thrown as `UnavailableError("cache", ...)`.
 */
export interface KeyValueStore {
  /** Stores a one-time code's digest at `key`, replacing any earlier code there
   * (its failure count too), living `ttlMs`. */
  putCode(key: string, digest: string, ttlMs: number): Promise<void>;
  /** Atomically checks `digest` against the code at `key`: a match deletes the code
   * (so under any number of parallel callers exactly one matches), a mismatch counts
   * one failure, and a code with `maxAttempts` failures is dead until it expires. */
  checkCode(key: string, digest: string, maxAttempts: number): Promise<CodeCheck>;

  /** Counts one hit in the fixed window at `key` (the window starts at the first
   * hit and lasts `windowMs`). */
  hit(key: string, windowMs: number): Promise<Counter>;
  /** Reads the counter at `key` without counting (count 0 when absent). */
  peek(key: string): Promise<Counter>;
  /** Counts one hit by `member` in the fixed window at `key` (as `hit` does) and,
   * in the same atomic step, the window's total, to which each member adds at most
   * `memberCap` of its hits: no member alone takes the total past `memberCap`. */
  hitShared(key: string, member: string, memberCap: number, windowMs: number): Promise<SharedCounter>;

  /** Sets `key` to `value` for `ttlMs` only if it is absent. Returns whether it
   * was set and, when not, the milliseconds the existing key still lives. */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<{ set: boolean; ttlMs: number }>;
  /** Sets `key` to `value` for `ttlMs`, unconditionally. */
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /** Atomically sets `key` to the whole number `value` for `ttlMs` unless it holds
   * a number at least as large, or a value that is not a number (a marker that
   * outranks any number): a watermark that never moves back. With `overMarker`, a
   * marker gives way too (numbers still never move back). */
  raise(key: string, value: number, ttlMs: number, options?: { overMarker?: boolean }): Promise<void>;
  /** Reads several keys in one round trip (they share a hash tag); `null` when absent. */
  getMany(keys: readonly string[]): Promise<(string | null)[]>;
  /** Deletes keys (absent keys are ignored). */
  del(...keys: string[]): Promise<void>;

  /** Tells every process sharing this store that `keys` changed (pub/sub), so
   * in-process copies of them are dropped. */
  announceChange(keys: readonly string[]): Promise<void>;
  /** Calls `listener` with each changed key announced by any process, and with
   * `undefined` when announcements may have been missed (drop everything). */
  onChange(listener: (key: string | undefined) => void): void;
  /** Whether announcements are being received right now; while not, in-process
   * copies must not be trusted. */
  readonly hearingChanges: boolean;

  /** Resolves when the store answers; throws `UnavailableError` otherwise. */
  ping(): Promise<void>;
  /** Closes connections; later calls fail. */
  close(): Promise<void>;
}

export type CodeCheck =
  /** No code at that key: expired, used, or never sent. */
  | { state: "missing" }
  /** The code already had `maxAttempts` failures; it is dead until it expires. */
  | { state: "exhausted"; ttlMs: number }
  /** The digest matched; the code is gone. */
  | { state: "match" }
  /** The digest did not match; `failures` counts this one (≤ maxAttempts). */
  | { state: "mismatch"; failures: number; ttlMs: number };

export interface Counter {
  count: number;
  /** Milliseconds until the window ends (0 when the counter is absent). */
  resetMs: number;
}

export interface SharedCounter {
  /** Hits of every member, each counted up to the member cap. */
  total: number;
  /** Hits of this member, all of them. */
  byMember: number;
  /** Milliseconds until the window ends. */
  resetMs: number;
}
