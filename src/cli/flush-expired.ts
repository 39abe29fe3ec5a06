/**
 * `npm run flush-expired [batch size]`: deletes expired sessions and refresh-token
 * rows, and audit events older than AUDIT_RETENTION, in bounded batches (each a
 * short statement with SKIP LOCKED; default 5000 rows of each table), so even a
 * table of millions is cleaned without long locks. Safe to run from cron on any
 * instance. Each batch is logged at `debug`.
 */
import { loadConfig } from "../config.js";
import { createLogger, openDatabase } from "../app.js";
import { flushAuditTrail } from "../core/audit/retention.js";
import { systemClock } from "../core/clock.js";
import { flushExpired } from "../core/sessions/flush.js";
import { createAuditLog } from "../store/postgres/audit.js";
import { createSessionRepository } from "../store/postgres/sessions.js";
import { runCli } from "./run.js";

const DEFAULT_BATCH = 5000;

runCli(async () => {
  const config = loadConfig();
  const log = createLogger(config);
  const stores = await openDatabase(config);
  try {
    const asked = Number(process.argv[2] ?? DEFAULT_BATCH);
    const batchSize = Number.isInteger(asked) && asked > 0 ? asked : DEFAULT_BATCH;
    const started = performance.now();
    let batches = 0;
    let batchStarted = started;
    const logBatch = (counts: Record<string, number>, msg: string) => {
      batches += 1;
      const now = performance.now();
      log.debug({ ...counts, batchSize, ms: Math.round(now - batchStarted) }, msg);
      batchStarted = now;
    };
    const result = await flushExpired(createSessionRepository(stores.db), systemClock, batchSize, (batch) => logBatch({ ...batch }, "expired rows batch"));
    const events = await flushAuditTrail(createAuditLog(stores.db), systemClock, config.auditRetentionMs, batchSize, (deleted) =>
      logBatch({ events: deleted }, "old audit events batch"),
    );
    log.info({ ...result, events, batches, batchSize, ms: Math.round(performance.now() - started) }, "expired rows deleted");
  } finally {
    await stores.release();
  }
});
