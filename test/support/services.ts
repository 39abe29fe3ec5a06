/**
 * Where the real PostgreSQL and Redis of the test run are, and fresh, isolated
 * slices of them: a new database per test file, a new key prefix per test file.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import "./global-setup.js";

export const POSTGRES_ADMIN_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
export const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

/** Set by the global setup: whether the real stores answered. */
export function realStoresAvailable(): boolean {
  return inject("realStores");
}

/** A Redis key prefix no other test file uses. */
export function freshKeyPrefix(): string {
  return `test:${randomBytes(6).toString("hex")}:`;
}

/** Creates an empty database and returns its URL; `drop()` removes it. */
export async function freshDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `idn_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
