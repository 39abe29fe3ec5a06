/**
 * Where `identity import-django` writes: users upserted by phone a batch per
 * statement, each new or changed user's event in the same statement, and the
 * Django blacklist into legacy_spent_tokens. A dry run makes the same statements
 * in a transaction it rolls back, so its report is the real one.
 */
import type { AuditNote } from "../../core/ports/audit.js";
import type { BlacklistedToken, LegacyImportTarget, LegacyUser, UpsertedUsers } from "../../core/ports/legacy-import.js";
import { AUDIT_PARAM_COUNT, auditCte, auditParams } from "./audit.js";
import type { Database, Queryable } from "./db.js";

const IMPORTED: AuditNote = { type: "user.registered", actor: { kind: "system" }, client: null, details: { source: "django" } };
const UPDATED: AuditNote = { type: "admin.user_updated", actor: { kind: "system" }, client: null, details: { source: "django" } };

/** The columns an import sets, in the order of the statement's arrays. */
const FIELDS = ["legacy_id", "phone", "first_name", "last_name", "is_staff", "is_active", "date_joined", "last_login"] as const;
const ARRAY_TYPES = ["bigint", "text", "text", "text", "boolean", "boolean", "timestamptz", "timestamptz"] as const;
/** What an import changes of a user who is here already (their flags go through applyFlagChanges). */
const UPDATED_FIELDS = ["legacy_id", "first_name", "last_name", "date_joined", "last_login"] as const;

/**
 * A phone already imported from another Django id, or a Django id already imported
 * with another phone, is a conflict: left as it is and reported. Otherwise a new
 * phone is inserted (`xmax = 0`) and a known one updated only where something
 * differs (the earliest date_joined and latest last_login of both kept, so logins
 * here are not undone), else left alone: a second run changes nothing. A known
 * user's differing flags are answered (`flagChanges`), not changed here.
 */
const UPSERT = `
  WITH incoming AS (
    SELECT * FROM unnest(${ARRAY_TYPES.map((type, i) => `$${i + 1}::${type}[]`).join(", ")}) AS i(${FIELDS.join(", ")})
  ),
  before AS (
    SELECT u.id, u.legacy_id, ${FIELDS.slice(1).map((f) => `u.${f}`).join(", ")} FROM users u JOIN incoming i ON u.phone = i.phone
  ),
  conflicts AS (
    SELECT i.legacy_id, CASE WHEN b.legacy_id <> i.legacy_id THEN 'phone taken by a different legacy id (' || b.legacy_id || ')'
                             ELSE 'id already imported with another phone (' || o.phone || ')' END AS reason
    FROM incoming i
    LEFT JOIN before b ON b.phone = i.phone
    LEFT JOIN users o ON o.legacy_id = i.legacy_id AND o.phone <> i.phone
    WHERE b.legacy_id <> i.legacy_id OR o.id IS NOT NULL
  ),
  upserted AS (
    INSERT INTO users AS u (id, ${FIELDS.join(", ")})
    SELECT gen_random_uuid(), ${FIELDS.join(", ")} FROM incoming i WHERE NOT EXISTS (SELECT 1 FROM conflicts c WHERE c.legacy_id = i.legacy_id)
    ON CONFLICT (phone) DO UPDATE SET
      legacy_id = excluded.legacy_id, first_name = excluded.first_name, last_name = excluded.last_name,
      date_joined = LEAST(u.date_joined, excluded.date_joined), last_login = GREATEST(u.last_login, excluded.last_login)
    WHERE (u.legacy_id, u.first_name, u.last_name, u.date_joined, u.last_login) IS DISTINCT FROM
          (excluded.legacy_id, excluded.first_name, excluded.last_name, LEAST(u.date_joined, excluded.date_joined), GREATEST(u.last_login, excluded.last_login))
    RETURNING u.id, ${FIELDS.map((f) => `u.${f}`).join(", ")}, (u.xmax = 0) AS inserted
  ),
  imported AS (SELECT id, legacy_id FROM upserted WHERE inserted),
  updated AS (
    SELECT p.id, p.legacy_id,
           array_remove(ARRAY[${UPDATED_FIELDS.map((f) => `CASE WHEN p.${f} IS DISTINCT FROM b.${f} THEN '${f}' END`).join(", ")}], NULL) AS fields
    FROM upserted p JOIN before b ON b.id = p.id WHERE NOT p.inserted
  ),
  flagged AS (
    SELECT b.id, CASE WHEN i.is_active <> b.is_active THEN i.is_active END AS is_active, CASE WHEN i.is_staff <> b.is_staff THEN i.is_staff END AS is_staff
    FROM incoming i JOIN before b ON b.phone = i.phone
    WHERE (i.is_active, i.is_staff) IS DISTINCT FROM (b.is_active, b.is_staff) AND NOT EXISTS (SELECT 1 FROM conflicts c WHERE c.legacy_id = i.legacy_id)
  ),
  ${auditCte("imported_events", "imported", { userId: "imported.id", sessionId: "NULL::text" }, FIELDS.length + 1, "jsonb_build_object('legacy_id', imported.legacy_id)")},
  ${auditCte(
    "updated_events",
    "updated",
    { userId: "updated.id", sessionId: "NULL::text" },
    FIELDS.length + 1 + AUDIT_PARAM_COUNT,
    "jsonb_build_object('legacy_id', updated.legacy_id, 'fields', to_jsonb(updated.fields))",
  )}
  SELECT (SELECT count(*)::int FROM imported) AS imported,
         (SELECT count(*)::int FROM (SELECT id FROM updated UNION SELECT id FROM flagged) AS changed) AS updated,
         (SELECT coalesce(jsonb_agg(jsonb_build_object('legacyId', legacy_id, 'reason', reason) ORDER BY legacy_id), '[]'::jsonb) FROM conflicts) AS conflicts,
         (SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object('userId', id, 'isActive', is_active, 'isStaff', is_staff))), '[]'::jsonb) FROM flagged) AS "flagChanges"`;

const RECORD_BLACKLISTED = `
  WITH recorded AS (
    INSERT INTO legacy_spent_tokens (jti, reason, spent_at, expires_at)
    SELECT jti, 'blacklisted', spent_at, expires_at FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) AS t(jti, spent_at, expires_at)
    ON CONFLICT (jti) DO NOTHING
    RETURNING 1
  )
  SELECT count(*)::int AS recorded FROM recorded`;

export function createLegacyImportTarget(db: Database, options: { dryRun: boolean }): LegacyImportTarget {
  // A dry run's statements see what the run before them saw: each is rolled back.
  const run = <R extends object>(sql: string, params: readonly unknown[]): Promise<R[]> =>
    options.dryRun ? db.exclusive((connection) => rolledBack(connection, () => connection.query<R>(sql, params))) : db.query<R>(sql, params);
  return {
    async upsertUsers(users, now) {
      if (users.length === 0) return { imported: 0, updated: 0, unchanged: 0, conflicts: [], flagChanges: [] };
      const rows = await run<Omit<UpsertedUsers, "unchanged">>(UPSERT, [
        ...columnsOf(users),
        ...auditParams(IMPORTED, now),
        ...auditParams(UPDATED, now),
      ]);
      const outcome = rows[0]!;
      return { ...outcome, unchanged: users.length - outcome.imported - outcome.updated - outcome.conflicts.length };
    },
    async recordBlacklisted(tokens: readonly BlacklistedToken[]) {
      if (tokens.length === 0) return 0;
      const rows = await run<{ recorded: number }>(RECORD_BLACKLISTED, [
        tokens.map((t) => t.jti),
        tokens.map((t) => t.blacklistedAt.toISOString()),
        tokens.map((t) => t.expiresAt.toISOString()),
      ]);
      return rows[0]!.recorded;
    },
  };
}

/** The users as one array per column, in FIELDS order. */
function columnsOf(users: readonly LegacyUser[]): unknown[][] {
  return [
    users.map((u) => u.legacyId),
    users.map((u) => u.phone),
    users.map((u) => u.firstName),
    users.map((u) => u.lastName),
    users.map((u) => u.isStaff),
    users.map((u) => u.isActive),
    users.map((u) => u.dateJoined.toISOString()),
    users.map((u) => u.lastLogin?.toISOString() ?? null),
  ];
}

async function rolledBack<T>(connection: Queryable, work: () => Promise<T>): Promise<T> {
  await connection.exec("BEGIN");
  try {
    return await work();
  } finally {
    await connection.exec("ROLLBACK");
  }
}
