/** flush-expired's part for the Django cut-over: spent legacy tokens past their expiry go, batch by batch. */
import { describe, expect, it } from "vitest";
import { flushSpentLegacyTokens } from "../../../src/core/legacy/flush-spent.js";
import { coreLab } from "../support/core-deps.js";

describe("flushSpentLegacyTokens", () => {
  it("deletes every spent Django token past its expiry in batches, keeping the live and the undated", async () => {
    const lab = await coreLab();
    const now = lab.clock.now();
    for (let i = 0; i < 5; i++) lab.stores.admin.blacklistLegacy(`old-${i}`, new Date(now - 1000 * (i + 1)));
    lab.stores.admin.blacklistLegacy("live", new Date(now + 60_000));
    lab.stores.admin.blacklistLegacy("undated", null);
    const batches: number[] = [];

    expect(await flushSpentLegacyTokens(lab.stores.sessions, lab.clock, 2, (deleted) => batches.push(deleted))).toBe(5);
    expect(batches).toEqual([2, 2, 1]);
    for (let i = 0; i < 5; i++) expect(lab.stores.admin.legacySpent(`old-${i}`)).toBeUndefined();
    expect(lab.stores.admin.legacySpent("live")?.reason).toBe("blacklisted");
    expect(lab.stores.admin.legacySpent("undated")?.reason).toBe("blacklisted");
  });
});
