import { deleteInBatches } from "../batches.js";
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
  return deleteInBatches((limit) => audit.deleteOlderThan(before, limit), batchSize, onBatch);
}
