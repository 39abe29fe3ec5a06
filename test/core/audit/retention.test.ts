import { describe, expect, it } from "vitest";
import { flushAuditTrail } from "../../../src/core/audit/retention.js";
import { coreLab, type CoreLab } from "../support/core-deps.js";

const DAY_MS = 86_400_000;

/** Appends an event `daysAgo` days before the lab's now. */
async function eventAged(lab: CoreLab, daysAgo: number): Promise<void> {
  await lab.deps.audit.append({ type: "otp.sent", at: new Date(lab.clock.now() - daysAgo * DAY_MS), userId: null, actor: { kind: "system" }, client: null, details: { daysAgo } });
}

describe("flushAuditTrail", () => {
  it("deletes the events older than the retention in bounded batches, and keeps the rest", async () => {
    const lab = await coreLab();
    for (const daysAgo of [400, 200, 181, 180.5, 180, 179, 1, 0]) await eventAged(lab, daysAgo);
    const batches: number[] = [];
    const total = await flushAuditTrail(lab.stores.audit, lab.clock, lab.config.auditRetentionMs, 2, (deleted) => batches.push(deleted));
    expect(total).toBe(4);
    expect(batches).toEqual([2, 2, 0]);
    // An event exactly as old as the retention stays.
    expect(lab.stores.admin.auditEvents().map((e) => e.details.daysAgo)).toEqual([180, 179, 1, 0]);
    expect(await flushAuditTrail(lab.stores.audit, lab.clock, lab.config.auditRetentionMs, 2)).toBe(0);
  });

  it("stops at the first short batch", async () => {
    const lab = await coreLab({ env: { AUDIT_RETENTION: "30d" } });
    for (const daysAgo of [90, 60, 45]) await eventAged(lab, daysAgo);
    const batches: number[] = [];
    expect(await flushAuditTrail(lab.stores.audit, lab.clock, lab.config.auditRetentionMs, 2, (deleted) => batches.push(deleted))).toBe(3);
    expect(batches).toEqual([2, 1]);
    expect(lab.stores.admin.auditEvents()).toEqual([]);
  });
});
