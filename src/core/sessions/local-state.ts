/**
 * Session state held in-process for at most a second, so a warm Verify asks Redis
 * nothing. It is safe because it is bounded three ways:
 * - every revocation is announced to all processes (pub/sub) and drops the copies;
 * - an entry lives at most `ttlMs` (1 s), so even a lost announcement is seen
 *   everywhere within a second;
 * - while announcements are not being heard (Redis down, reconnecting), no copy is
 *   trusted, and all are dropped when they are heard again: it never outlives an
 *   outage, and Verify then fails closed as before.
 */
import type { KeyValueStore } from "../../store/kv/types.js";

export interface LocalSessionState {
  /** Both values, when both are held and fresh and changes are being heard. */
  get(sessionKey: string, userKey: string): [string, string] | undefined;
  /** A mark to take before reading the values from Redis, for `put`. */
  mark(): number;
  /** Keeps values read since `mark`, unless a change was heard meanwhile (the
   * values might predate it). */
  put(sessionKey: string, userKey: string, session: string, user: string, mark: number): void;
  drop(key: string): void;
}

/** Staleness is real elapsed time (monotonic), not the domain clock tests may stop. */
export function createLocalSessionState(kv: KeyValueStore, ttlMs = 1000, maxEntries = 100_000): LocalSessionState {
  const entries = new Map<string, { value: string; expiresAt: number }>();
  /** Counts changes heard; a read that straddles one is not kept. */
  let changes = 0;
  const drop = (key: string | undefined) => {
    changes += 1;
    if (key === undefined) entries.clear();
    else entries.delete(key);
  };
  kv.onChange(drop);

  const read = (key: string, now: number) => {
    const entry = entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= now) {
      entries.delete(key);
      return undefined;
    }
    return entry.value;
  };
  const write = (key: string, value: string, expiresAt: number) => {
    if (entries.size >= maxEntries && !entries.has(key)) entries.delete(entries.keys().next().value!);
    entries.set(key, { value, expiresAt });
  };

  return {
    get(sessionKey, userKey) {
      if (!kv.hearingChanges) return undefined;
      const now = performance.now();
      const session = read(sessionKey, now);
      const user = session === undefined ? undefined : read(userKey, now);
      return user === undefined ? undefined : [session!, user];
    },
    mark: () => changes,
    put(sessionKey, userKey, session, user, mark) {
      if (!kv.hearingChanges || mark !== changes) return;
      const expiresAt = performance.now() + ttlMs;
      write(sessionKey, session, expiresAt);
      write(userKey, user, expiresAt);
    },
    drop,
  };
}
