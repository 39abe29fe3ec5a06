/**
 * Applies the numbered SQL files in ./migrations in order, each once, under a
 * PostgreSQL advisory lock so instances starting together do not collide.
 */
import { readdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { Database } from "./db.js";

const MIGRATIONS_DIR = fileURLToPath(new URL("./migrations/", import.meta.url));
/** Arbitrary constant naming this service's migration lock. */
const MIGRATION_LOCK_ID = 7_301_004_221;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export async function listMigrations(): Promise<Migration[]> {
  const files = (await readdir(MIGRATIONS_DIR)).filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f)).sort();
  return Promise.all(
    files.map(async (file) => ({
      version: Number(file.slice(0, 3)),
      name: file.slice(4, -4),
      sql: await readFile(MIGRATIONS_DIR + file, "utf8"),
    })),
  );
}

/** Returns the versions it applied (empty when the schema was current). */
export async function migrate(db: Database): Promise<number[]> {
  const migrations = await listMigrations();
  return db.exclusive(async (connection) => {
    await connection.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_ID]);
    try {
      await connection.query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
      );
      const done = new Set((await connection.query<{ version: number }>("SELECT version FROM schema_migrations")).map((r) => r.version));
      const applied: number[] = [];
      for (const migration of migrations) {
        if (done.has(migration.version)) continue;
        await connection.query("BEGIN");
        try {
          await connection.exec(migration.sql);
          await connection.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", [migration.version, migration.name]);
          await connection.query("COMMIT");
        } catch (error) {
          await connection.query("ROLLBACK");
          throw error;
        }
        applied.push(migration.version);
      }
      return applied;
    } finally {
      await connection.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_ID]);
    }
  });
}
