import { describe, expect, it } from "vitest";
import { FIRST_LOCK_MS, LOCK_MEMORY_MS, MAX_LOCK_MS, backoffMs, lockWithBackoff } from "../../../src/core/otp/backoff.js";
import { coreLab, type CoreLab } from "../support/core-deps.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const keys = { lock: "{ip:203.0.113.1}:lock", locks: "{ip:203.0.113.1}:locks" };

/** The instant the lock ends, and the milliseconds it still lives. */
async function lockState(lab: CoreLab): Promise<{ endsAt: number | null; leftMs: number }> {
  const [endsAt] = await lab.kv.getMany([keys.lock]);
  return { endsAt: endsAt === null || endsAt === undefined ? null : Number(endsAt), leftMs: (await lab.kv.peek(keys.lock)).resetMs };
}

describe("backoffMs", () => {
  it("starts at 5 minutes, doubles, and stops at 24 hours, remembered for 24 hours", () => {
    expect([FIRST_LOCK_MS, MAX_LOCK_MS, LOCK_MEMORY_MS]).toEqual([5 * MINUTE, 24 * HOUR, 24 * HOUR]);
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9].map(backoffMs)).toEqual([5, 10, 20, 40, 80, 160, 320, 640, 1280].map((m) => m * MINUTE));
    expect(backoffMs(10)).toBe(24 * HOUR);
  });

  it("stays at 24 hours however many locks there were", () => {
    for (const nth of [11, 31, 32, 100, 1_025, 10_000]) expect(backoffMs(nth)).toBe(24 * HOUR);
  });
});

describe("lockWithBackoff", () => {
  it("sets a lock holding the instant it ends, that expires then", async () => {
    const lab = await coreLab();
    const start = lab.clock.now();
    await lockWithBackoff(lab.deps, keys);
    expect(await lockState(lab)).toEqual({ endsAt: start + 5 * MINUTE, leftMs: 5 * MINUTE });
    lab.clock.advance(5 * MINUTE);
    expect(await lockState(lab)).toEqual({ endsAt: null, leftMs: 0 });
  });

  it("makes each further lock within 24 hours of the first twice as long", async () => {
    const lab = await coreLab();
    for (const minutes of [5, 10, 20, 40]) {
      await lockWithBackoff(lab.deps, keys);
      expect(await lockState(lab)).toEqual({ endsAt: lab.clock.now() + minutes * MINUTE, leftMs: minutes * MINUTE });
      lab.clock.advance(minutes * MINUTE);
    }
  });

  it("forgets the locks 24 hours after the first", async () => {
    const lab = await coreLab();
    await lockWithBackoff(lab.deps, keys);
    lab.clock.advance(24 * HOUR - 1);
    await lockWithBackoff(lab.deps, keys);
    expect((await lockState(lab)).leftMs).toBe(10 * MINUTE);
    lab.clock.advance(10 * MINUTE);
    await lockWithBackoff(lab.deps, keys);
    expect((await lockState(lab)).leftMs).toBe(5 * MINUTE);
  });

  it("never cuts a longer lock short", async () => {
    const lab = await coreLab();
    const longer = lab.clock.now() + HOUR;
    await lab.kv.raise(keys.lock, longer, HOUR);
    await lockWithBackoff(lab.deps, keys);
    expect(await lockState(lab)).toEqual({ endsAt: longer, leftMs: HOUR });
  });
});
