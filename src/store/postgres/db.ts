/**
 * One small database interface over `pg` (a pool, for real PostgreSQL) and PGlite
 * (the embedded default). Every write the service makes is a single statement, so
 * nothing here needs a multi-statement transaction; `exclusive` gives one
 * connection for the few things that need session state (the migration lock).
 */
import { mkdir } from "node:fs/promises";
import type { PoolClient } from "pg";
import { UnavailableError } from "../../core/errors.js";

export interface Queryable {
  query<R extends object>(sql: string, params?: readonly unknown[]): Promise<R[]>;
  /** Runs a script of several statements (no parameters). */
  exec(sql: string): Promise<void>;
}

export interface Database extends Queryable {
  readonly kind: "postgres" | "pglite";
  /** Runs `fn` on one connection held for its whole duration. */
  exclusive<T>(fn: (connection: Queryable) => Promise<T>): Promise<T>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** SQLSTATE classes and driver codes that mean "the database is not reachable now". */
const UNAVAILABLE_SQLSTATE = /^(08|53|57P0[1-4])/;
const UNAVAILABLE_NODE_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH"]);

function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_NODE_CODES.has(code))) return true;
  return /timeout|terminat|Connection|not queryable|closed/i.test(error.message);
}

/** PostgreSQL chose this statement to break a deadlock: it was rolled back whole. */
export function isDeadlock(error: unknown): boolean {
  return error instanceof Error && (error as { code?: unknown }).code === "40P01";
}

/** Told of each call that failed because the database did not answer (for
 * identity_store_errors_total; the store knows nothing of metrics). */
export type OnUnavailable = (error: UnavailableError) => void;

/** Driver errors become UnavailableError when the database is unreachable; other
 * errors (constraint violations, bugs) pass through unchanged. */
function translate(error: unknown, onUnavailable?: OnUnavailable): never {
  if (isUnavailable(error)) {
    const unavailable = new UnavailableError("database", error instanceof Error ? error.message : String(error), { cause: error });
    onUnavailable?.(unavailable);
    throw unavailable;
  }
  throw error;
}

/** Anything that runs SQL: a pg pool or client, or PGlite. */
interface Driver {
  query<R extends object>(sql: string, params?: unknown[]): Promise<{ rows: R[] }>;
}

/**
 * A pg pool or client that runs every statement with parameters as a named
 * prepared statement: each connection parses and plans a statement text once and
 * then only binds and executes it. The service's statements are a fixed set of
 * texts, and its batch statements (CTEs over unnested arrays) cost more to plan
 * than to run. The name is the text's hash, so one text is one statement on every
 * connection.
 */
function preparing(pool: Pick<import("pg").Pool, "query">, hash: (sql: string) => string): Driver {
  const names = new Map<string, string>();
  return {
    query<R extends object>(sql: string, params?: unknown[]) {
      if (params === undefined) return pool.query<R>(sql);
      let name = names.get(sql);
      if (name === undefined) {
        name = hash(sql);
        names.set(sql, name);
      }
      return pool.query<R>({ name, text: sql, values: params });
    },
  };
}

/** A Queryable over a driver, with its errors translated; scripts go to `runScript`. */
function queryable(driver: Driver, runScript: (sql: string) => Promise<unknown>, onUnavailable?: OnUnavailable): Queryable {
  return {
    async query<R extends object>(sql: string, params?: readonly unknown[]): Promise<R[]> {
      try {
        return (await driver.query<R>(sql, params as unknown[] | undefined)).rows;
      } catch (error) {
        return translate(error, onUnavailable);
      }
    },
    async exec(sql: string): Promise<void> {
      try {
        await runScript(sql);
      } catch (error) {
        translate(error, onUnavailable);
      }
    },
  };
}

export interface PostgresOptions {
  url: string;
  maxConnections?: number;
  /** Per statement, enforced by the server. */
  statementTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** Told of each call (health probes aside) the database failed to answer. */
  onUnavailable?: OnUnavailable;
}

export async function createPostgresDatabase(options: PostgresOptions): Promise<Database> {
  // Loaded only when used: the embedded default starts faster without it.
  const { default: pg } = await import("pg");
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 2000,
    statement_timeout: options.statementTimeoutMs ?? 5000,
    query_timeout: (options.statementTimeoutMs ?? 5000) + 1000,
    idleTimeoutMillis: 30_000,
    application_name: "identity-service",
  });
  // A pooled connection that dies while idle emits here; without a listener it
  // would crash the process. The next query reconnects.
  pool.on("error", () => {});

  // A query without parameters uses the simple protocol, which runs whole scripts.
  const { createHash } = await import("node:crypto");
  const named = preparing(pool, (sql) => `identity_${createHash("sha256").update(sql).digest("base64url").slice(0, 20)}`);
  const { query, exec } = queryable(named, (sql) => pool.query(sql), options.onUnavailable);
  // The health probe's failures are the probe's to report (identity_store_up), not errors of calls.
  const probe = queryable(pool, (sql) => pool.query(sql));

  return {
    kind: "postgres",
    query,
    exec,
    async exclusive(fn) {
      let client: PoolClient;
      try {
        client = await pool.connect();
      } catch (error) {
        return translate(error, options.onUnavailable);
      }
      try {
        return await fn(queryable(client, (sql) => client.query(sql), options.onUnavailable));
      } finally {
        client.release();
      }
    },
    async ping() {
      await probe.query("SELECT 1");
    },
    async close() {
      await pool.end();
    },
  };
}

/** The embedded database: PostgreSQL compiled to WASM, one connection, in-process. */
export async function createPgliteDatabase(dataDir: string | undefined, options: { onUnavailable?: OnUnavailable } = {}): Promise<Database> {
  const [{ PGlite }, { pg_trgm }] = await Promise.all([import("@electric-sql/pglite"), import("@electric-sql/pglite/contrib/pg_trgm")]);
  if (dataDir !== undefined) await mkdir(dataDir, { recursive: true });
  // pg_trgm: the user search's name indexes (migration 003); built in, loaded on demand.
  const db = await PGlite.create({ ...(dataDir === undefined ? {} : { dataDir }), extensions: { pg_trgm } });
  const { query, exec } = queryable(db, (sql) => db.exec(sql), options.onUnavailable);
  const probe = queryable(db, (sql) => db.exec(sql));
  return {
    kind: "pglite",
    query,
    exec,
    exclusive: (fn) => fn({ query, exec }),
    async ping() {
      await probe.query("SELECT 1");
    },
    async close() {
      await db.close();
    },
  };
}
