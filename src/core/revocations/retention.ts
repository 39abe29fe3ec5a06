import { deleteInBatches } from "../batches.js";
import type { Clock } from "../clock.js";
import type { Config } from "../../config.js";
import type { RevocationLog } from "../ports/revocations.js";
import { retainedSince } from "./window.js";

/**
 * Deletes the revocations no access token can outlive any more (past the opening
 * window and a margin), batch by batch. A cursor from before what was deleted gets
 * the opening set again. Returns how many went.
 */
export function flushRevocations(
  log: Pick<RevocationLog, "deleteOlderThan">,
  clock: Clock,
  tokens: Pick<Config["tokens"], "accessLifetimeMs" | "leewayMs">,
  batchSize: number,
  onBatch: (deleted: number) => void = () => {},
): Promise<number> {
  const before = retainedSince(tokens, clock.now());
  return deleteInBatches((limit) => log.deleteOlderThan(before, limit), batchSize, onBatch);
}
