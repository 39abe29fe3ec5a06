import { deleteInBatches } from "../batches.js";
import type { Clock } from "../clock.js";
import type { SessionRepository } from "../ports/sessions.js";

/**
 * Deletes spent Django refresh tokens (blacklisted there, or exchanged here) past
 * their own expiry, batch by batch: such a token is refused as expired anyway, so
 * its row guards nothing. Returns how many went.
 */
export async function flushSpentLegacyTokens(
  sessions: Pick<SessionRepository, "deleteExpiredLegacyTokens">,
  clock: Clock,
  batchSize: number,
  onBatch: (deleted: number) => void = () => {},
): Promise<number> {
  const now = new Date(clock.now());
  return deleteInBatches((limit) => sessions.deleteExpiredLegacyTokens(now, limit), batchSize, onBatch);
}
