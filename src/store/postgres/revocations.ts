/**
 * The revocation log in PostgreSQL (migration 006). A revoking statement records its
 * revocations itself (revocationCte, used by sessions.ts and users.ts), so there is
 * never a revocation without its entry, and the ids follow commit order: see the
 * migration for why.
 */
import type { Revocation, RevocationKind, RevocationLog, RevocationLogState } from "../../core/ports/revocations.js";
import type { Queryable } from "./db.js";

/** SQL expressions, over the rows of `from`, of what each revocation records. */
export interface RevocationColumns {
  kind: RevocationKind;
  userId: string;
  /** For "session". */
  sessionId?: string;
  /** For "user_before". */
  revokedBefore?: string;
  at: string;
}

/**
 * CTEs (`rev_n`, `rev_ids`, `rev`) that record one revocation per row of the CTE
 * `from`, taking the next ids from revocation_log. The log's row is locked only
 * when there is something to record, and last: after the rows `from` changed.
 */
export function revocationCte(from: string, c: RevocationColumns): string {
  return `rev_n AS (
           SELECT count(*) AS n FROM ${from}
         ), rev_ids AS (
           UPDATE revocation_log SET last_id = last_id + rev_n.n FROM rev_n WHERE rev_n.n > 0
           RETURNING last_id - rev_n.n AS before_first
         ), rev AS (
           INSERT INTO revocations (id, kind, session_id, user_id, revoked_before, at)
           SELECT rev_ids.before_first + row_number() OVER (), '${c.kind}', ${c.sessionId ?? "NULL"}, ${c.userId}, ${c.revokedBefore ?? "NULL"}, ${c.at}
           FROM ${from}, rev_ids
         )`;
}

interface RevocationRow {
  id: string;
  kind: RevocationKind;
  session_id: string | null;
  user_id: string;
  revoked_before: Date | null;
  at: Date;
}

export function createRevocationLog(db: Queryable): RevocationLog {
  return {
    async state(): Promise<RevocationLogState> {
      const rows = await db.query<{ epoch: string; last_id: string; purged_through: string }>("SELECT epoch, last_id, purged_through FROM revocation_log");
      const row = rows[0];
      if (row === undefined) throw new Error("revocation_log has no row: migration 006 did not run");
      return { epoch: row.epoch, lastId: Number(row.last_id), purgedThrough: Number(row.purged_through) };
    },

    async read({ afterId, throughId, since, limit }) {
      const rows = await db.query<RevocationRow>(
        `SELECT id, kind, session_id, user_id, revoked_before, at FROM revocations
         WHERE id > $1 AND ($2::bigint IS NULL OR id <= $2) AND ($3::timestamptz IS NULL OR at >= $3)
         ORDER BY id LIMIT $4`,
        [afterId, throughId ?? null, since ?? null, limit],
      );
      return rows.map(
        (row): Revocation => ({
          id: Number(row.id),
          kind: row.kind,
          sessionId: row.session_id,
          userId: row.user_id,
          revokedBefore: row.revoked_before,
          at: row.at,
        }),
      );
    },

    async deleteOlderThan(before, limit) {
      // Oldest first along the time index, in short statements that skip locked rows;
      // the highest id deleted is remembered, so a cursor before it is known to be too old.
      const rows = await db.query<{ deleted: string }>(
        `WITH gone AS (
           DELETE FROM revocations WHERE id IN (
             SELECT id FROM revocations WHERE at < $1 ORDER BY at LIMIT $2 FOR UPDATE SKIP LOCKED
           ) RETURNING id
         ), purged AS (
           UPDATE revocation_log SET purged_through = GREATEST(purged_through, (SELECT max(id) FROM gone))
           WHERE EXISTS (SELECT 1 FROM gone)
         )
         SELECT count(*) AS deleted FROM gone`,
        [before, limit],
      );
      return Number(rows[0]?.deleted ?? 0);
    },
  };
}
