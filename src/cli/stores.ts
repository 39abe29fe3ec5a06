/**
 * How a command reaches the stores. Work that only PostgreSQL holds opens the
 * database alone (beside running instances of either kind; the embedded one still
 * takes its data directory's lock). Work that running instances must see at once
 * (a revocation, a changed user) builds the service's own graph, so it goes through
 * the same liveness cache and change announcements they use; that is refused beside
 * an instance whose store is in-process, which nothing outside it can reach.
 */
import { createIdentity, createLogger, openDatabase } from "../app.js";
import type { Config } from "../config.js";
import type { CoreDeps } from "../core/deps.js";
import type { Database } from "../store/postgres/db.js";
import { migrate } from "../store/postgres/migrate.js";

/** Runs `work` on the database alone, migrated first when `migrated`. */
export async function withDatabase<T>(config: Config, work: (db: Database) => Promise<T>, options: { migrated: boolean } = { migrated: true }): Promise<T> {
  const { db, release } = await openDatabase(config);
  try {
    if (options.migrated) await migrate(db);
    return await work(db);
  } finally {
    await release();
  }
}

/** Runs `work` on the service's graph (migrated by createIdentity), as an instance would. */
export async function withService<T>(config: Config, work: (deps: CoreDeps) => Promise<T>): Promise<T> {
  // An operator reads these lines: an error's message, never its stack.
  const logger = createLogger(config).child({}, { serializers: { err: (error: unknown) => (error instanceof Error ? { message: error.message } : { message: String(error) }) } });
  const identity = await createIdentity(config, { logger });
  try {
    return await work(identity.deps);
  } finally {
    await identity.close();
  }
}
