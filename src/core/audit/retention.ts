import type { Clock } from "../clock.js";
import type { AuditLog } from "../ports/audit.js";

/**
 * Deletes the audit events older than the retention (AUDIT_RETENTION), oldest
 * first, batch by batch (each batch one short statement), so a trail of millions
 * is trimmed without long locks. Returns how many went.
 */
export async function flushAuditTrail(
  audit: Pick<AuditLog, "deleteOlderThan">,
  clock: Clock,
  retentionMs: number,
  batchSize: number,
  onBatch: (deleted: number) => void = () => {},
): Promise<number> {
  const before = new Date(clock.now() - retentionMs);
  let total = 0;
  for (;;) {
    const deleted = await audit.deleteOlderThan(before, batchSize);
    total += deleted;
    onBatch(deleted);
    // A short batch: nothing older is left but rows someone else holds locked (the next run takes them).
    if (deleted < batchSize) return total;
  }
}
