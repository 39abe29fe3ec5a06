/** `npm run migrate`: applies pending schema migrations and exits. */
import { loadConfig } from "../config.js";
import { createLogger, openDatabase } from "../app.js";
import { migrate } from "../store/postgres/migrate.js";
import { runCli } from "./run.js";

runCli(async () => {
  const config = loadConfig();
  const log = createLogger(config);
  const stores = await openDatabase(config);
  try {
    const applied = await migrate(stores.db);
    log.info({ applied }, applied.length === 0 ? "schema is current" : "migrations applied");
  } finally {
    await stores.release();
  }
});
