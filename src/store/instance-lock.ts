/**
 * The in-process store is this process's memory: a second instance beside it would
 * keep its own revocations and rate counters, and a logout on one would not be seen
 * by the other. So an instance on it holds an exclusive lock and refuses to start
 * when another holds it: a lock file for the embedded database's data directory,
 * and a PostgreSQL advisory lock (held on its own connection) for a shared database,
 * which Redis-backed instances hold shared so that neither mode can join the other.
 */
import { mkdir, open, readFile, rm } from "node:fs/promises";
import { resolve } from "node:path";
import { UnavailableError } from "../core/errors.js";

export class InstanceLockError extends Error {
  override name = "InstanceLockError";
}

/**
 * Lock files held by this process. A lock file naming our own pid is otherwise taken
 * for a stale one (a previous process that had our pid, as PID 1 in a container
 * does); this set tells that apart from a second instance started in this process.
 */
const heldByThisProcess = new Set<string>();

export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  await mkdir(dataDir, { recursive: true });
  const file = resolve(dataDir, "instance.lock");
  if (heldByThisProcess.has(file)) {
    throw new InstanceLockError(`DATA_DIR ${dataDir} is in use by another instance in this process (process ${process.pid}); the embedded database and in-process store serve one instance`);
  }
  for (let tries = 0; tries < 2; tries++) {
    try {
      const handle = await open(file, "wx");
      await handle.write(String(process.pid));
      await handle.close();
      heldByThisProcess.add(file);
      return async () => {
        heldByThisProcess.delete(file);
        await rm(file, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const pid = Number(await readFile(file, "utf8").catch(() => "0"));
      if (pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new InstanceLockError(`DATA_DIR ${dataDir} is in use by process ${pid}; the embedded database and in-process store serve one process (set DATABASE_URL and REDIS_URL to run several)`);
      }
      await rm(file, { force: true }); // stale: its process is gone
    }
  }
  throw new InstanceLockError(`could not lock DATA_DIR ${dataDir}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * One advisory lock id, two modes: an instance with the in-process store takes it
 * exclusively, an instance with Redis takes it shared. PostgreSQL grants shared
 * holders to one another and an exclusive holder to nobody else, so Redis-backed
 * instances run side by side, an in-process one runs alone, and whichever mode
 * comes second is refused, in either order.
 */
const STORE_MODE_LOCK_ID = 7_301_004_222;

export type SharedDatabaseMode = "in-process store" | "redis";

export async function lockSharedDatabase(databaseUrl: string, mode: SharedDatabaseMode): Promise<() => Promise<void>> {
  const { default: pg } = await import("pg");
  const client = new pg.Client({ connectionString: databaseUrl, application_name: "identity-service-lock" });
  client.on("error", () => {});
  try {
    await client.connect();
  } catch (error) {
    throw new UnavailableError("database", error instanceof Error ? error.message : String(error), { cause: error });
  }
  const take = mode === "redis" ? "pg_try_advisory_lock_shared" : "pg_try_advisory_lock";
  const { rows } = await client.query<{ locked: boolean }>(`SELECT ${take}($1) AS locked`, [STORE_MODE_LOCK_ID]);
  if (!rows[0]?.locked) {
    const holders = await client.query<{ mode: string }>(
      `SELECT mode FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
         AND classid = ($1::bigint >> 32)::oid AND objid = ($1::bigint & 4294967295)::oid AND objsubid = 1`,
      [STORE_MODE_LOCK_ID],
    );
    await client.end();
    const redisHolds = holders.rows.some((row) => row.mode === "ShareLock");
    throw new InstanceLockError(
      mode === "redis"
        ? "an instance with the in-process store (no REDIS_URL) runs on this database; stop it before starting instances with Redis, or give it REDIS_URL"
        : redisHolds
          ? "instances with Redis run on this database; set REDIS_URL (the same Redis) so that this one shares their state"
          : "another instance with the in-process store runs on this database; set REDIS_URL so that instances share state",
    );
  }
  return () => client.end();
}
