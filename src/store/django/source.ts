/**
 * The Django system's PostgreSQL database as `identity import-django` reads it: one
 * read-only REPEATABLE READ transaction (users and blacklist from one snapshot),
 * each table read through a server-side cursor a batch at a time, the next batch
 * fetched while the last is being written, so a million users never sit in memory.
 */
import pg from "pg";
import type { BlacklistedToken, DjangoSource, DjangoUserRow } from "../../core/ports/legacy-import.js";
import { unreachableReason } from "../unreachable-cause.js";

/** Why the source cannot be read: its message is the operator's one line. */
export class DjangoSourceError extends Error {
  override name = "DjangoSourceError";
}

export interface OpenDjangoSource extends DjangoSource {
  close(): Promise<void>;
}

const USER_COLUMNS = "id, phone, first_name, last_name, is_staff, is_active, date_joined, last_login";
const BLACKLIST_TABLES = ["token_blacklist_outstandingtoken", "token_blacklist_blacklistedtoken"];
// SQLSTATE undefined_column: a table that is not shaped like Django's user table.
const UNDEFINED_COLUMN = "42703";

/** `schema.table` or `table`, each part a plain SQL identifier, quoted as such. */
export function quotedTableName(table: string): string | undefined {
  if (!/^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$/.test(table)) return undefined;
  return table
    .split(".")
    .map((part) => `"${part}"`)
    .join(".");
}

/** Connects and checks that `table` (quotedTableName's form) is there with the
 * columns of Django's user table; nothing is read yet. */
export async function openDjangoSource(url: string, table: string): Promise<OpenDjangoSource> {
  const where = describeUrl(url);
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000, application_name: "identity import-django" });
  client.on("error", () => {});
  try {
    await client.connect();
  } catch (error) {
    const { cause, detail } = unreachableReason(error);
    throw new DjangoSourceError(`cannot reach the source database ${where} (${cause}: ${detail})`);
  }
  try {
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    const { rows } = await client.query<{ found: boolean }>("SELECT to_regclass($1) IS NOT NULL AS found", [table]);
    if (rows[0]?.found !== true) throw new DjangoSourceError(`the source database ${where} has no table ${table}`);
    await client.query(`SELECT ${USER_COLUMNS} FROM ${table} LIMIT 0`).catch((error: unknown) => {
      if ((error as { code?: unknown }).code === UNDEFINED_COLUMN) throw new DjangoSourceError(`the source table ${table} is not a Django user table: ${firstLine(error)}`);
      throw error;
    });
  } catch (error) {
    await client.end().catch(() => {});
    throw error instanceof DjangoSourceError ? error : new DjangoSourceError(`cannot read the source database ${where}: ${firstLine(error)}`);
  }
  return {
    users: (batchSize) => batches<DjangoUserRow>(client, "users", `SELECT ${USER_COLUMNS} FROM ${table} ORDER BY id`, batchSize),
    async *blacklist(batchSize) {
      const { rows } = await client.query<{ found: boolean }>("SELECT bool_and(to_regclass(t) IS NOT NULL) AS found FROM unnest($1::text[]) AS t", [BLACKLIST_TABLES]);
      if (rows[0]?.found !== true) return;
      const sql = `SELECT o.jti, b.blacklisted_at, o.expires_at
                   FROM token_blacklist_blacklistedtoken b JOIN token_blacklist_outstandingtoken o ON o.id = b.token_id ORDER BY b.id`;
      for await (const found of batches<{ jti: string; blacklisted_at: Date; expires_at: Date }>(client, "blacklist", sql, batchSize)) {
        yield found.map((row): BlacklistedToken => ({ jti: row.jti, blacklistedAt: row.blacklisted_at, expiresAt: row.expires_at }));
      }
    },
    async close() {
      await client.query("ROLLBACK").catch(() => {});
      await client.end().catch(() => {});
    },
  };
}

/** The rows of `sql` through a cursor named `cursor`, `size` at a time; the next
 * FETCH is under way while the caller works on the last. */
async function* batches<R extends object>(client: pg.Client, cursor: string, sql: string, size: number): AsyncGenerator<R[]> {
  await client.query(`DECLARE ${cursor} NO SCROLL CURSOR FOR ${sql}`);
  const fetch = () => client.query<R>(`FETCH FORWARD ${size} FROM ${cursor}`).then((result) => result.rows);
  let next = fetch();
  try {
    for (;;) {
      const rows = await next;
      if (rows.length === 0) break;
      next = fetch();
      yield rows;
    }
  } finally {
    // A FETCH left running when the reader stops early must not go unhandled.
    await next.catch(() => {});
    await client.query(`CLOSE ${cursor}`).catch(() => {});
  }
}

/** host:port/database, never the password. */
function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}${parsed.port === "" ? "" : `:${parsed.port}`}${parsed.pathname}`;
  } catch {
    return "(unparseable URL)";
  }
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n", 1)[0] ?? "";
}
