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
   * (its attempt count too), living `ttlMs`. */
  putCode(key: string, digest: string, ttlMs: number): Promise<void>;
  /** Atomically takes one verification attempt on the code at `key`. */
  takeCodeAttempt(key: string, maxAttempts: number): Promise<CodeAttempt>;
  /** Deletes the code at `key` if it is still the code `version` names. Under any
   * number of parallel callers with the same version, exactly one gets `true`. */
  consumeCode(key: string, version: string): Promise<boolean>;

  /** Counts one hit in the fixed window at `key` (the window starts at the first
   * hit and lasts `windowMs`). */
  hit(key: string, windowMs: number): Promise<Counter>;
  /** Reads the counter at `key` without counting (count 0 when absent). */
  peek(key: string): Promise<Counter>;

  /** Sets `key` to `value` for `ttlMs` only if it is absent. Returns whether it
   * was set and, when not, the milliseconds the existing key still lives. */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<{ set: boolean; ttlMs: number }>;
  /** Sets `key` to `value` for `ttlMs`, unconditionally. */
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /** Reads several keys in one round trip (they share a hash tag); `null` when absent. */
  getMany(keys: readonly string[]): Promise<(string | null)[]>;
  /** Deletes keys (absent keys are ignored). */
  del(...keys: string[]): Promise<void>;

  /** Resolves when the store answers; throws `UnavailableError` otherwise. */
  ping(): Promise<void>;
  /** Closes connections; later calls fail. */
  close(): Promise<void>;
}

export type CodeAttempt =
  /** No code at that key: expired, consumed, replaced by nothing, or never sent. */
  | { state: "missing" }
  /** The code has had `maxAttempts` attempts already; it is dead until it expires. */
  | { state: "exhausted"; ttlMs: number }
  /** An attempt was taken: `attempt` is its 1-based number (≤ maxAttempts). */
  | { state: "live"; digest: string; version: string; attempt: number };

export interface Counter {
  count: number;
  /** Milliseconds until the window ends (0 when the counter is absent). */
  resetMs: number;
}
