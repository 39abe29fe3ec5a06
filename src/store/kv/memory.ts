import { UnavailableError } from "../../core/errors.js";
import { constantTimeEqual } from "../../lib/constant-time.js";
import type { CodeCheck, Counter, KeyValueStore, SharedCounter } from "../../core/ports/key-value.js";

export interface MemoryStoreOptions {
  /** Epoch milliseconds; injected so tests can expire entries without sleeping. */
  now?: () => number;
}

type Entry =
  | { kind: "string"; value: string; expiresAt: number }
  | { kind: "code"; digest: string; failures: number; expiresAt: number }
  | { kind: "shared"; total: number; members: Map<string, number>; expiresAt: number };

/** How often, at most, writes sweep out expired entries nobody reads again. */
const SWEEP_INTERVAL_MS = 60_000;

/**
 * A {@link KeyValueStore} in a `Map`, for the embedded single-process default. Same
 * semantics as the Redis store: no method awaits, so each one runs to completion
 * before any other call starts and is atomic, as the Redis scripts are.
 *
 * Expired entries read as absent and are deleted when met; writes also sweep the
 * whole map at most once a minute, so keys that are never read again (one counter
 * per client IP, say) do not pile up. There is no timer to stop.
 */
export function createMemoryStore(options: MemoryStoreOptions = {}): KeyValueStore {
  const now = options.now ?? Date.now;
  const entries = new Map<string, Entry>();
  let nextSweepAt = now() + SWEEP_INTERVAL_MS;
  let closed = false;
  const listeners: ((key: string | undefined) => void)[] = [];

  /** The live entry at `key`, deleting it when it has expired. */
  function live(key: string): Entry | undefined {
    const entry = entries.get(key);
    if (entry && entry.expiresAt <= now()) {
      entries.delete(key);
      return undefined;
    }
    return entry;
  }

  function write(key: string, entry: Entry): void {
    entries.set(key, entry);
    const at = now();
    if (at < nextSweepAt) return;
    nextSweepAt = at + SWEEP_INTERVAL_MS;
    for (const [k, e] of entries) if (e.expiresAt <= at) entries.delete(k);
  }

  /** Reads `key` as a string, failing like Redis does on a code record (WRONGTYPE). */
  function liveString(key: string): Extract<Entry, { kind: "string" }> | undefined {
    return liveOf(key, "string");
  }

  function liveCode(key: string): Extract<Entry, { kind: "code" }> | undefined {
    return liveOf(key, "code");
  }

  function liveOf<K extends Entry["kind"]>(key: string, kind: K): Extract<Entry, { kind: K }> | undefined {
    const entry = live(key);
    if (entry && entry.kind !== kind) throw new TypeError(`key ${key} holds a ${entry.kind} entry, not a ${kind} one`);
    return entry as Extract<Entry, { kind: K }> | undefined;
  }

  function open(): void {
    if (closed) throw new UnavailableError("cache", "the in-process store is closed");
  }

  return {
    async putCode(key, digest, ttlMs) {
      open();
      assertTtl(ttlMs);
      write(key, { kind: "code", digest, failures: 0, expiresAt: now() + ttlMs });
    },

    async checkCode(key, digest, maxAttempts): Promise<CodeCheck> {
      open();
      const code = liveCode(key);
      if (!code) return { state: "missing" };
      if (code.failures >= maxAttempts) return { state: "exhausted", ttlMs: code.expiresAt - now() };
      if (constantTimeEqual(code.digest, digest)) {
        entries.delete(key);
        return { state: "match" };
      }
      code.failures += 1;
      return { state: "mismatch", failures: code.failures, ttlMs: code.expiresAt - now() };
    },

    async hit(key, windowMs): Promise<Counter> {
      open();
      assertTtl(windowMs);
      const counter = liveString(key);
      if (!counter) {
        write(key, { kind: "string", value: "1", expiresAt: now() + windowMs });
        return { count: 1, resetMs: windowMs };
      }
      // Later hits keep the window's end: it is fixed at the first hit.
      const count = Number(counter.value) + 1;
      counter.value = String(count);
      return { count, resetMs: counter.expiresAt - now() };
    },

    async peek(key): Promise<Counter> {
      open();
      const counter = liveString(key);
      if (!counter) return { count: 0, resetMs: 0 };
      return { count: Number(counter.value), resetMs: counter.expiresAt - now() };
    },

    async hitShared(key, member, memberCap, windowMs): Promise<SharedCounter> {
      open();
      assertTtl(windowMs);
      let counter = liveOf(key, "shared");
      if (!counter) {
        counter = { kind: "shared", total: 0, members: new Map(), expiresAt: now() + windowMs };
        write(key, counter);
      }
      const byMember = (counter.members.get(member) ?? 0) + 1;
      counter.members.set(member, byMember);
      if (byMember <= memberCap) counter.total += 1;
      return { total: counter.total, byMember, resetMs: counter.expiresAt - now() };
    },

    async setIfAbsent(key, value, ttlMs) {
      open();
      assertTtl(ttlMs);
      const existing = live(key);
      if (existing) return { set: false, ttlMs: existing.expiresAt - now() };
      write(key, { kind: "string", value, expiresAt: now() + ttlMs });
      return { set: true, ttlMs };
    },

    async set(key, value, ttlMs) {
      open();
      assertTtl(ttlMs);
      write(key, { kind: "string", value, expiresAt: now() + ttlMs });
    },

    async raise(key, value, ttlMs, options = {}) {
      open();
      assertTtl(ttlMs);
      if (!Number.isSafeInteger(value)) throw new RangeError("raise takes a whole number");
      const existing = live(key);
      if (existing?.kind === "string") {
        // As the script does: Lua's tonumber, not Number (which reads "" as 0).
        const current = /^-?\d+$/.test(existing.value) ? Number(existing.value) : undefined;
        if (current === undefined ? options.overMarker !== true : current >= value) return;
      }
      write(key, { kind: "string", value: String(value), expiresAt: now() + ttlMs });
    },

    async getMany(keys) {
      open();
      // Like MGET: anything that is not a live string reads as null.
      return keys.map((key) => {
        const entry = live(key);
        return entry?.kind === "string" ? entry.value : null;
      });
    },

    async del(...keys) {
      open();
      for (const key of keys) entries.delete(key);
    },

    async announceChange(keys) {
      open();
      for (const key of keys) for (const listener of listeners) listener(key);
    },

    onChange(listener) {
      listeners.push(listener);
    },

    get hearingChanges() {
      return !closed;
    },

    async ping() {
      open();
    },

    async close() {
      closed = true;
      entries.clear();
    },
  };
}

function assertTtl(ms: number): void {
  // The same rule as the Redis store, so both refuse the same arguments.
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new RangeError(`ttl must be a positive whole number of ms, got ${ms}`);
}

