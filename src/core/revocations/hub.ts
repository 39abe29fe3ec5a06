/**
 * One reader of the revocation log per process, fanning out to every open feed
 * stream. It reads what is new (`id > position`, in order) when an announcement says
 * a revocation committed, on any instance (the key-value store's change
 * announcements: Redis pub/sub, or in-process), and every `pollMs` regardless: a
 * lost announcement or a flushed Redis delays an event by one poll at most and loses
 * nothing, since PostgreSQL is the source of truth. It starts with the first stream
 * and runs until closed.
 */
import { UnavailableError } from "../errors.js";
import type { KeyValueStore } from "../ports/key-value.js";
import type { Revocation, RevocationLog } from "../ports/revocations.js";

/** The key announced after a revocation commits (no such key is stored: the
 * announcement only wakes the hubs). */
export const REVOCATIONS_CHANGED = "revocations:changed";

export type HubListener = (revocations: readonly Revocation[]) => void;

export interface HubSubscription {
  /** The log's epoch (which database). */
  epoch: string;
  /** Every revocation after this id is pushed to the listener, in order. */
  position: number;
  unsubscribe(): void;
}

export interface RevocationHub {
  /** Starts the reader if it is not running; throws `UnavailableError` when the
   * log cannot be read to start it. */
  subscribe(listener: HubListener): Promise<HubSubscription>;
  /** Whether the last read that succeeded began at most `withinMs` ago: a
   * revocation committed before then has been pushed. */
  fresh(withinMs: number): boolean;
  close(): void;
}

export interface RevocationHubOptions {
  log: RevocationLog;
  changes: Pick<KeyValueStore, "onChange">;
  pollMs?: number;
  pageSize?: number;
  /** Told when reading starts failing and when it works again (once each). */
  onTrouble?: (error: unknown | undefined) => void;
}

export function createRevocationHub({ log, changes, pollMs = 250, pageSize = 500, onTrouble = () => {} }: RevocationHubOptions): RevocationHub {
  const listeners = new Set<HubListener>();
  let started: { epoch: string; position: number } | undefined;
  let starting: Promise<{ epoch: string; position: number }> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let reading = false;
  let again = false;
  let failing = false;
  let closed = false;
  /** performance.now() when the last successful read began. */
  let freshAt = -Infinity;

  async function read(): Promise<void> {
    if (started === undefined || closed) return;
    if (reading) {
      again = true;
      return;
    }
    reading = true;
    try {
      do {
        again = false;
        const began = performance.now();
        for (;;) {
          const page = await log.read({ afterId: started.position, limit: pageSize });
          const last = page.at(-1);
          if (last !== undefined) {
            started.position = last.id;
            for (const listener of [...listeners]) listener(page);
          }
          if (page.length < pageSize) break;
        }
        freshAt = began;
        if (failing) onTrouble(undefined);
        failing = false;
      } while (again && !closed);
    } catch (error) {
      if (!failing) onTrouble(error);
      failing = true;
    } finally {
      reading = false;
    }
  }

  changes.onChange((key) => {
    // undefined: announcements may have been missed; reading costs little.
    if (key === REVOCATIONS_CHANGED || key === undefined) void read();
  });

  async function start(): Promise<{ epoch: string; position: number }> {
    const state = await log.state();
    if (started === undefined && !closed) {
      started = { epoch: state.epoch, position: state.lastId };
      freshAt = performance.now();
      timer = setInterval(() => void read(), pollMs);
      timer.unref();
    }
    return started ?? { epoch: state.epoch, position: state.lastId };
  }

  return {
    async subscribe(listener) {
      if (started === undefined) {
        starting ??= start().finally(() => (starting = undefined));
        await starting;
      }
      if (started === undefined) throw new UnavailableError("database", "the revocation feed is closed");
      listeners.add(listener);
      // Read now, not at start: a read may have moved the position meanwhile.
      const { epoch, position } = started;
      return { epoch, position, unsubscribe: () => void listeners.delete(listener) };
    },

    fresh: (withinMs) => !failing && performance.now() - freshAt <= withinMs,

    close() {
      closed = true;
      clearInterval(timer);
      listeners.clear();
    },
  };
}
