/**
 * `npm run flush-expired [batch size]`: deletes expired sessions and refresh-token
 * rows in bounded batches (each a short statement with SKIP LOCKED; default 5000
 * rows of each table), so even a table of millions is cleaned without long locks.
 * Safe to run from cron on any instance. Each batch is logged at `debug`.
 */
import { loadConfig } from "../config.js";
import { createLogger, openDatabase } from "../app.js";
import { systemClock } from "../core/clock.js";
import { flushExpired } from "../core/sessions/flush.js";
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
    const result = await flushExpired(createSessionRepository(stores.db), systemClock, batchSize, (batch) => {
      batches += 1;
      const now = performance.now();
      log.debug({ ...batch, batchSize, ms: Math.round(now - batchStarted) }, "expired rows batch");
      batchStarted = now;
    });
    log.info({ ...result, batches, batchSize, ms: Math.round(performance.now() - started) }, "expired rows deleted");
  } finally {
    await stores.release();
  }
});
