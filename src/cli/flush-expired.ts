/**
 * `identity flush-expired [BATCH_SIZE]` (`npm run flush-expired`): deletes expired
 * sessions and refresh-token rows, spent Django tokens past their expiry, audit events
 * older than AUDIT_RETENTION, and revocations no access token can outlive, in
 * bounded batches (each a short statement with SKIP LOCKED; default 5000 rows of
 * each table), so even a table of millions is cleaned without long locks. Safe to
 * run from cron on any instance. Each batch and the totals are logged at `debug`;
 * one line on stdout says what went.
 */
import { loadConfig } from "../config.js";
import { createLogger, openDatabase } from "../app.js";
import { flushAuditTrail } from "../core/audit/retention.js";
import { systemClock } from "../core/clock.js";
import { flushSpentLegacyTokens } from "../core/legacy/flush-spent.js";
import { flushRevocations } from "../core/revocations/retention.js";
import { flushExpired } from "../core/sessions/flush.js";
import { createAuditLog } from "../store/postgres/audit.js";
import { createRevocationLog } from "../store/postgres/revocations.js";
import { createSessionRepository } from "../store/postgres/sessions.js";
import type { Run } from "./commands.js";
import { UsageError } from "./errors.js";

const DEFAULT_BATCH = 5000;
const MAX_BATCH = 1_000_000;

export const flushExpiredCommand: Run = async (args) => {
  const batchSize = batchSizeOf(args.positionals[0]);
  const config = loadConfig();
  const log = createLogger(config);
  const stores = await openDatabase(config);
  try {
    const started = performance.now();
    let batches = 0;
    let batchStarted = started;
    const logBatch = (counts: Record<string, number>, msg: string) => {
      batches += 1;
      const now = performance.now();
      log.debug({ ...counts, batchSize, ms: Math.round(now - batchStarted) }, msg);
      batchStarted = now;
    };
    const sessions = createSessionRepository(stores.db);
    const result = await flushExpired(sessions, systemClock, batchSize, (batch) => logBatch({ ...batch }, "expired rows batch"));
    const legacyTokens = await flushSpentLegacyTokens(sessions, systemClock, batchSize, (deleted) => logBatch({ legacyTokens: deleted }, "expired spent Django tokens batch"));
    const events = await flushAuditTrail(createAuditLog(stores.db), systemClock, config.auditRetentionMs, batchSize, (deleted) =>
      logBatch({ events: deleted }, "old audit events batch"),
    );
    const revocations = await flushRevocations(createRevocationLog(stores.db), systemClock, config.tokens, batchSize, (deleted) =>
      logBatch({ revocations: deleted }, "old revocations batch"),
    );
    log.debug({ ...result, legacyTokens, events, revocations, batches, batchSize, ms: Math.round(performance.now() - started) }, "expired rows deleted");
    return `deleted ${result.sessions} expired sessions, ${result.tokens} expired refresh-token rows, ${legacyTokens} expired spent Django tokens, ${events} audit events older than AUDIT_RETENTION and ${revocations} revocations past every access token's life (${batches} batches of at most ${batchSize})`;
  } finally {
    await stores.release();
  }
};

function batchSizeOf(text: string | undefined): number {
  if (text === undefined) return DEFAULT_BATCH;
  const size = Number(text);
  if (!/^\d+$/.test(text) || size < 1 || size > MAX_BATCH) throw new UsageError(`BATCH_SIZE must be a whole number from 1 to ${MAX_BATCH}, not "${text}"`);
  return size;
}
