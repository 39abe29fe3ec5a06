import { setTimeout as sleep } from "node:timers/promises";

export interface EventuallyOptions {
  /** How long to keep reading. Default 8 s. */
  withinMs?: number;
  /** The pause between reads. Default 100 ms. */
  stepMs?: number;
}

/**
 * Reads `read` until `until` accepts its value, and returns that value. A read that
 * throws counts as "not yet" (a store coming back refuses connections for a while).
 * Past `withinMs` it fails with the last error, or with the last value read.
 */
export async function eventually<T>(read: () => Promise<T>, until: (value: T) => boolean, options: EventuallyOptions = {}): Promise<T> {
  const { withinMs = 8_000, stepMs = 100 } = options;
  const deadline = Date.now() + withinMs;
  for (;;) {
    let last: { value: T } | { error: unknown };
    try {
      const value = await read();
      if (until(value)) return value;
      last = { value };
    } catch (error) {
      last = { error };
    }
    if (Date.now() > deadline) {
      if ("error" in last) throw last.error;
      throw new Error(`condition not met within ${withinMs} ms (last: ${shown(last.value)})`);
    }
    await sleep(stepMs);
  }
}

function shown(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}
