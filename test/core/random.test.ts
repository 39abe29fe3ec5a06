import { describe, expect, it } from "vitest";
import { cryptoRandom } from "../../src/core/random.js";

describe("cryptoRandom", () => {
  it("makes codes of exactly the length asked, of decimal digits", () => {
    for (const length of [4, 6, 10]) {
      for (let i = 0; i < 50; i++) expect(cryptoRandom.code(length)).toMatch(new RegExp(`^\\d{${length}}$`));
    }
  });

  it("draws every digit about as often as any other", () => {
    const counts = new Array<number>(10).fill(0);
    for (let i = 0; i < 2_000; i++) for (const digit of cryptoRandom.code(10)) counts[Number(digit)]! += 1;
    // 20,000 digits: 2,000 each expected, σ ≈ 42; ±400 fails once in far more than a lifetime of runs.
    for (const count of counts) expect(Math.abs(count - 2_000)).toBeLessThan(400);
  });

  it("makes ids of 128 random bits, base64url, never the same twice", () => {
    const ids = Array.from({ length: 1_000 }, () => cryptoRandom.id());
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(Buffer.from(ids[0]!, "base64url")).toHaveLength(16);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("makes version 4 UUIDs", () => {
    const uuids = Array.from({ length: 100 }, () => cryptoRandom.uuid());
    for (const uuid of uuids) expect(uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(uuids).size).toBe(uuids.length);
  });
});
