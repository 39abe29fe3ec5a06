import type { Clock } from "../clock.js";
import type { SessionRepository } from "../../store/postgres/sessions.js";

/** Deletes expired sessions, then expired refresh-token rows, batch by batch. */
export async function flushExpired(sessions: Pick<SessionRepository, "deleteExpired" | "deleteExpiredTokens">, clock: Clock, batchSize: number): Promise<{ sessions: number; tokens: number }> {
  const now = new Date(clock.now());
  const drain = async (deleteBatch: (now: Date, limit: number) => Promise<number>) => {
    let total = 0;
    for (;;) {
      const deleted = await deleteBatch(now, batchSize);
      total += deleted;
      if (deleted < batchSize) return total;
    }
  };
  return { sessions: await drain((n, l) => sessions.deleteExpired(n, l)), tokens: await drain((n, l) => sessions.deleteExpiredTokens(n, l)) };
}
