import { deleteInBatches } from "../batches.js";
import type { Clock } from "../clock.js";
import type { SessionRepository } from "../ports/sessions.js";

/** What one statement deleted: never more than the batch size of either table. */
export interface FlushBatch {
  sessions: number;
  tokens: number;
}

/**
 * Deletes expired refresh-token rows, then expired sessions with the tokens that
 * outlived them, batch by batch (each batch one short statement). Tokens go first:
 * most expire before their session, so the session batches rarely find any left.
 */
export async function flushExpired(
  sessions: Pick<SessionRepository, "deleteExpired" | "deleteExpiredTokens">,
  clock: Clock,
  batchSize: number,
  onBatch: (batch: FlushBatch) => void = () => {},
): Promise<{ sessions: number; tokens: number }> {
  const now = new Date(clock.now());
  const total = { sessions: 0, tokens: 0 };
  const count = (batch: FlushBatch) => {
    total.sessions += batch.sessions;
    total.tokens += batch.tokens;
    onBatch(batch);
  };
  await deleteInBatches((limit) => sessions.deleteExpiredTokens(now, limit), batchSize, (tokens) => count({ sessions: 0, tokens }));
  for (;;) {
    const batch = await sessions.deleteExpired(now, batchSize);
    count(batch);
    // Below the limit on both counts: no expired session is left but those whose rows
    // someone else holds locked (the next run takes them). Each pass that goes on has
    // deleted a full batch, so this ends.
    if (batch.sessions < batchSize && batch.tokens < batchSize) break;
  }
  return total;
}
