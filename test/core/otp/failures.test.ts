import { describe, expect, it } from "vitest";
import {
  ADDRESS_SHARE_PER_PHONE,
  FAILURE_WINDOW_MS,
  MAX_FAILURES_PER_PHONE,
  addressBudget,
  assertNotLockedOut,
  recordFailure,
} from "../../../src/core/otp/failures.js";
import { otpKeys } from "../../../src/core/otp/keys.js";
import { coreLab, type CoreLab } from "../support/core-deps.js";

const PHONE = "+989121234567";
const OTHER_PHONE = "+989127654321";
const A = "203.0.113.1";
const B = "203.0.113.2";
const C = "203.0.113.3";
const MINUTE = 60_000;

async function fail(lab: CoreLab, times: number, phone: string, ip: string): Promise<void> {
  for (let i = 0; i < times; i++) await recordFailure(lab.deps, phone, ip);
}

/** The refusal `assertNotLockedOut` gives, or "open". */
async function lockFor(lab: CoreLab, phone: string, ip: string): Promise<number | "open"> {
  try {
    await assertNotLockedOut(lab.deps, phone, ip);
    return "open";
  } catch (error) {
    expect(error).toMatchObject({ name: "AppError", reason: "rate_limited", message: "too many wrong codes" });
    return (error as { retryAfterSeconds: number }).retryAfterSeconds;
  }
}

describe("the failure limits", () => {
  it("are 10 per address on a phone, 15 per phone, within an hour", () => {
    expect([ADDRESS_SHARE_PER_PHONE, MAX_FAILURES_PER_PHONE, FAILURE_WINDOW_MS]).toEqual([10, 15, 3_600_000]);
  });

  it("give an address a budget of every code it may ask for in an hour, failed", async () => {
    expect(addressBudget((await coreLab()).config)).toBe(100);
    expect(addressBudget((await coreLab({ env: { OTP_MAX_PER_IP_PER_HOUR: "3", OTP_MAX_ATTEMPTS: "2" } })).config)).toBe(6);
  });
});

describe("assertNotLockedOut", () => {
  it("lets a phone and address with no lock through", async () => {
    const lab = await coreLab();
    await expect(assertNotLockedOut(lab.deps, PHONE, A)).resolves.toBeUndefined();
  });

  it("refuses each lock that applies alone, in whole seconds rounded up", async () => {
    for (const [key, ttl, seconds] of [
      [otpKeys.phoneLock(PHONE), 1, 1],
      [otpKeys.pairLock(PHONE, A), 90_000, 90],
      [otpKeys.ipLock(A), 30_001, 31],
    ] as const) {
      const lab = await coreLab();
      await lab.kv.set(key, "1", ttl);
      expect(await lockFor(lab, PHONE, A)).toBe(seconds);
    }
  });

  it("answers the longest lock that applies, and ignores other phones' and addresses' locks", async () => {
    const lab = await coreLab();
    await lab.kv.set(otpKeys.phoneLock(PHONE), "1", 20_000);
    await lab.kv.set(otpKeys.pairLock(PHONE, A), "1", 90_000);
    await lab.kv.set(otpKeys.ipLock(A), "1", 45_000);
    expect(await lockFor(lab, PHONE, A)).toBe(90);
    expect(await lockFor(lab, PHONE, B)).toBe(20);
    expect(await lockFor(lab, OTHER_PHONE, A)).toBe(45);
    expect(await lockFor(lab, OTHER_PHONE, B)).toBe("open");
    lab.clock.advance(45_000);
    expect(await lockFor(lab, OTHER_PHONE, A)).toBe("open");
  });
});

describe("recordFailure per phone and address", () => {
  it("locks the address out of the phone from its 10th wrong code, for 5 minutes, and only there", async () => {
    const lab = await coreLab();
    await fail(lab, 9, PHONE, A);
    expect(await lockFor(lab, PHONE, A)).toBe("open");
    await fail(lab, 1, PHONE, A);
    expect(await lockFor(lab, PHONE, A)).toBe(300);
    expect(await lockFor(lab, PHONE, B)).toBe("open");
    expect(await lockFor(lab, OTHER_PHONE, A)).toBe("open");
    lab.clock.advance(5 * MINUTE);
    expect(await lockFor(lab, PHONE, A)).toBe("open");
  });

  it("doubles each further lock: 10, 20, 40 minutes", async () => {
    const lab = await coreLab();
    await fail(lab, 10, PHONE, A);
    for (const minutes of [10, 20, 40]) {
      lab.clock.advance(MINUTE);
      await fail(lab, 1, PHONE, A);
      expect(await lockFor(lab, PHONE, A)).toBe(minutes * 60);
    }
  });

  it("remembers the locks for 24 hours from the first, then starts again at 5 minutes", async () => {
    const lab = await coreLab();
    await fail(lab, 11, PHONE, A); // locks of 5 and 10 minutes
    lab.clock.advance(24 * 60 * MINUTE - 1);
    // The hour's count has gone: ten more wrong codes before the third lock.
    await fail(lab, 9, PHONE, A);
    expect(await lockFor(lab, PHONE, A)).toBe("open");
    await fail(lab, 1, PHONE, A);
    expect(await lockFor(lab, PHONE, A)).toBe(20 * 60);

    lab.clock.advance(61 * MINUTE);
    await fail(lab, 10, PHONE, A);
    expect(await lockFor(lab, PHONE, A)).toBe(5 * 60);
  });

  it("counts the address's wrong codes within the hour of its first", async () => {
    const lab = await coreLab();
    await fail(lab, 9, PHONE, A);
    lab.clock.advance(60 * MINUTE);
    await fail(lab, 9, PHONE, A);
    expect(await lockFor(lab, PHONE, A)).toBe("open");
  });
});

describe("recordFailure per phone", () => {
  it("locks the phone for everyone at the 15th wrong code of the hour, until the hour ends", async () => {
    const lab = await coreLab();
    await fail(lab, 10, PHONE, A);
    lab.clock.advance(10 * MINUTE);
    await fail(lab, 4, PHONE, B);
    expect(await lockFor(lab, PHONE, C)).toBe("open");
    await fail(lab, 1, PHONE, B);
    expect(await lockFor(lab, PHONE, C)).toBe(50 * 60);
    expect(await lockFor(lab, OTHER_PHONE, C)).toBe("open");
    lab.clock.advance(50 * MINUTE);
    expect(await lockFor(lab, PHONE, C)).toBe("open");
  });

  it("counts at most 10 from any one address toward the phone's 15", async () => {
    const lab = await coreLab();
    await fail(lab, 40, PHONE, A);
    await fail(lab, 4, PHONE, B);
    expect(await lockFor(lab, PHONE, C)).toBe("open");
    await fail(lab, 1, PHONE, C);
    expect(await lockFor(lab, PHONE, C)).toBe(3_600);
  });

  it("says which wrong code engaged the phone's lock, and for how long: that one only, not those counted after it", async () => {
    const lab = await coreLab();
    const lockedMs = async (ip: string) => (await recordFailure(lab.deps, PHONE, ip)).phoneLockedMs;
    for (let i = 0; i < 10; i++) expect(await lockedMs(A)).toBe(0);
    lab.clock.advance(10 * MINUTE);
    for (let i = 0; i < 4; i++) expect(await lockedMs(B)).toBe(0);
    // Past its share: A counts no more toward the phone, and engages nothing.
    expect(await lockedMs(A)).toBe(0);
    expect(await lockedMs(B)).toBe(50 * MINUTE);
    // Parallel guesses that were already past the lock's check: they lock again, engage nothing.
    expect(await Promise.all([lockedMs(B), lockedMs(C), lockedMs(A)])).toEqual([0, 0, 0]);
    expect(await lockFor(lab, PHONE, C)).toBe(50 * 60);
  });
});

describe("recordFailure per address", () => {
  // OTP_MAX_PER_IP_PER_HOUR 3 × OTP_MAX_ATTEMPTS 2: a budget of 6 wrong codes an hour.
  const env = { OTP_MAX_PER_IP_PER_HOUR: "3", OTP_MAX_ATTEMPTS: "2" };
  const phones = Array.from({ length: 8 }, (_, i) => `+98912000000${i}`);

  it("locks the address out of every phone at its budget, with back-off", async () => {
    const lab = await coreLab({ env });
    for (const phone of phones.slice(0, 5)) await fail(lab, 1, phone, A);
    expect(await lockFor(lab, PHONE, A)).toBe("open");
    await fail(lab, 1, phones[5]!, A);
    expect(await lockFor(lab, PHONE, A)).toBe(300);
    expect(await lockFor(lab, PHONE, B)).toBe("open");
    lab.clock.advance(5 * MINUTE);
    expect(await lockFor(lab, PHONE, A)).toBe("open");
    await fail(lab, 1, phones[6]!, A);
    expect(await lockFor(lab, OTHER_PHONE, A)).toBe(600);
  });

  it("counts the address's wrong codes within the hour of its first", async () => {
    const lab = await coreLab({ env });
    for (const phone of phones.slice(0, 5)) await fail(lab, 1, phone, A);
    lab.clock.advance(60 * MINUTE);
    await fail(lab, 1, phones[5]!, A);
    expect(await lockFor(lab, PHONE, A)).toBe("open");
  });
});
