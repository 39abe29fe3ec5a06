/**
 * `npm run flush-expired`: deletes expired sessions and refresh-token rows in
 * bounded batches (each a short statement with SKIP LOCKED), so even a table of
 * millions is cleaned without long locks. Safe to run from cron on any instance.
 */
import { loadConfig } from "../config.js";
import { createLogger, openStores } from "../app.js";
import { systemClock } from "../core/clock.js";
import { flushExpired } from "../core/sessions/flush.js";
import { createSessionRepository } from "../store/postgres/sessions.js";
import { runCli } from "./run.js";

runCli(async () => {
  const config = loadConfig();
  const log = createLogger(config);
  const stores = await openStores(config, log, systemClock);
  try {
    const batch = Number(process.argv[2] ?? 5000);
    const result = await flushExpired(createSessionRepository(stores.db), systemClock, Number.isInteger(batch) && batch > 0 ? batch : 5000);
    log.info(result, "expired rows deleted");
  } finally {
    await stores.release();
  }
});
