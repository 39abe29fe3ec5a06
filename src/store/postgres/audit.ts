/**
 * The audit trail in PostgreSQL. A change records its event in its own statement
 * (auditCte, used by the repositories), so there is never a change without its
 * event or an event without its change; one-time-code events are appended alone.
 */
import { actorName, type AuditEvent, type AuditEventType, type AuditLog, type AuditNote } from "../../core/ports/audit.js";
import type { Queryable } from "./db.js";

/** How many parameters auditParams yields. */
export const AUDIT_PARAM_COUNT = 6;

/** The parameters of an auditCte, in its order: at, type, actor, ip, user_agent, details. */
export function auditParams(note: AuditNote, at: Date): unknown[] {
  return [at, note.type, note.actor === undefined ? null : actorName(note.actor), note.client?.ip ?? null, note.client?.userAgent ?? null, JSON.stringify(note.details ?? {})];
}

/** The values of one audit row, as SQL expressions over the rows of `from` (an
 * actor that is NULL: the user's own doing). */
type AuditValues = Record<"at" | "type" | "userId" | "sessionId" | "actor" | "ip" | "userAgent" | "details", string>;

/** The one INSERT of audit rows: a CTE named `name`, one event per row of `from`. */
function insertEvents(name: string, from: string, v: AuditValues): string {
  return `${name} AS (
           INSERT INTO audit_events (at, type, user_id, session_id, actor, ip, user_agent, details)
           SELECT ${v.at}, ${v.type}, ${v.userId}, ${v.sessionId}, COALESCE(${v.actor}, 'user:' || ${v.userId}), ${v.ip}, ${v.userAgent}, ${v.details}
           FROM ${from}
         )`;
}

/**
 * A CTE named `name` that inserts the note (auditParams, from parameter `$first`)
 * once per row of `from`, about the user and session those rows name. A note
 * without an actor is the user's own doing. `extraDetails` is an SQL expression of
 * a jsonb object merged into the details (e.g. a count the statement decides).
 */
export function auditCte(name: string, from: string, about: { userId: string; sessionId: string }, first: number, extraDetails?: string): string {
  const p = (i: number) => `$${first + i}`;
  const details = extraDetails === undefined ? `${p(5)}::jsonb` : `${p(5)}::jsonb || ${extraDetails}`;
  return insertEvents(name, from, { at: `${p(0)}::timestamptz`, type: p(1), ...about, actor: p(2), ip: p(3), userAgent: p(4), details });
}

/** The columns a batch statement unnests from auditArrays (see auditUnnest). */
export const AUDIT_COLUMNS = ["ev_at", "ev_type", "ev_actor", "ev_ip", "ev_user_agent", "ev_details"] as const;

/** Batch statements: one note per row, as AUDIT_PARAM_COUNT parameter arrays in the
 * order of auditParams (and of AUDIT_COLUMNS). */
export function auditArrays(entries: readonly { note: AuditNote; at: Date }[]): unknown[][] {
  const params = entries.map(({ note, at }) => auditParams(note, at));
  return Array.from({ length: AUDIT_PARAM_COUNT }, (_, i) => params.map((row) => row[i]));
}

/** The unnest arguments of auditArrays from parameter `$first` (details as text:
 * both drivers pass a text array alike). */
export function auditUnnest(first: number): string {
  return ["timestamptz", "text", "text", "text", "text", "text"].map((type, i) => `$${first + i}::${type}[]`).join(", ");
}

/** A CTE named `name` that inserts, for each row of `from`, the note that row carries
 * in AUDIT_COLUMNS (unnested from auditArrays), about the user and session it names. */
export function auditRowsCte(name: string, from: string, about: { userId: string; sessionId: string }): string {
  return insertEvents(name, from, { at: "ev_at", type: "ev_type", ...about, actor: "ev_actor", ip: "ev_ip", userAgent: "ev_user_agent", details: "ev_details::jsonb" });
}

interface AuditRow {
  id: string;
  at: Date;
  type: AuditEventType;
  user_id: string | null;
  session_id: string | null;
  actor: string;
  ip: string | null;
  user_agent: string | null;
  details: Record<string, unknown>;
}

function eventOfRow(row: AuditRow): AuditEvent {
  return {
    id: String(row.id),
    at: row.at,
    type: row.type,
    userId: row.user_id,
    sessionId: row.session_id,
    actor: row.actor,
    ip: row.ip,
    userAgent: row.user_agent,
    details: row.details,
  };
}

export function createAuditLog(db: Queryable): AuditLog {
  return {
    async append(event) {
      await db.query(
        `WITH one AS (SELECT $7::uuid AS user_id, $8::text AS session_id), ${auditCte("ev", "one", { userId: "one.user_id", sessionId: "one.session_id" }, 1)}
         SELECT 1`,
        [...auditParams(event, event.at), event.userId, event.sessionId ?? null],
      );
    },

    async list(query) {
      const where: string[] = [];
      const params: unknown[] = [];
      const param = (value: unknown) => `$${params.push(value)}`;
      if (query.userId !== undefined) where.push(`user_id = ${param(query.userId)}::uuid`);
      if (query.types !== undefined && query.types.length > 0) where.push(`type = ANY(${param(query.types)}::text[])`);
      if (query.since !== undefined) where.push(`at >= ${param(query.since)}`);
      if (query.after !== undefined) where.push(`(at, id) < (${param(query.after.at)}::timestamptz, ${param(query.after.id)}::bigint)`);
      const rows = await db.query<AuditRow>(
        `SELECT id::text AS id, at, type, user_id, session_id, actor, ip, user_agent, details
         FROM audit_events ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""}
         ORDER BY at DESC, id DESC LIMIT ${param(query.limit)}`,
        params,
      );
      return rows.map(eventOfRow);
    },

    async deleteOlderThan(before, limit) {
      // Oldest first along the time index, in short statements that skip locked rows.
      const rows = await db.query<{ deleted: string }>(
        `WITH gone AS (
           DELETE FROM audit_events WHERE id IN (
             SELECT id FROM audit_events WHERE at < $1 ORDER BY at LIMIT $2 FOR UPDATE SKIP LOCKED
           ) RETURNING 1
         )
         SELECT count(*) AS deleted FROM gone`,
        [before, limit],
      );
      return Number(rows[0]?.deleted ?? 0);
    },
  };
}
