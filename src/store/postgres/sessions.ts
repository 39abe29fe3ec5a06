/**
 * Sessions and their refresh-token history. Each command is one SQL statement, so
 * it is atomic without an explicit transaction and costs one round trip; rotations
 * that arrive together share one statement (a group commit).
 */
import type { AuditNote } from "../../core/ports/audit.js";
import type { NewSession, SessionRepository } from "../../core/ports/sessions.js";
import type { User } from "../../core/ports/users.js";
import { createGroupCommit, type Batching, type GroupCommit } from "../../lib/group-commit.js";
import { AUDIT_COLUMNS, auditArrays, auditCte, auditParams, auditRowsCte, auditUnnest } from "./audit.js";
import { isDeadlock, type Database, type Queryable } from "./db.js";
import { END_EVERY_SESSION, lockSessionsInOrder } from "./end-every-session.js";
import { revocationCte } from "./revocations.js";
import { firstUser, U_COLUMNS, USER_COLUMNS, userOfRow, type UserRow } from "./users.js";

/** What the liveness cache reads through about a session on a miss. */
export interface SessionSnapshot {
  userId: string;
  createdAt: Date;
  expiresAt: Date;
  revoked: boolean;
  /** Logout-all instant of the user (null: never), and whether the user is active. */
  sessionsRevokedBefore: Date | null;
  userActive: boolean;
}

export interface SessionSnapshots {
  snapshot(sessionId: string): Promise<SessionSnapshot | undefined>;
}

/** A session is dead when revoked, when logout-all came after it, or when its user is inactive. */
const SESSION_REVOKED_SQL = `(s.revoked_at IS NOT NULL OR NOT u.is_active OR s.created_at <= COALESCE(u.sessions_revoked_before, '-infinity'))`;

/** The feed's entries of the sessions ended in `s` (id, user_id), at the instant in $3. */
const SESSION_REVOKED_EVENTS = revocationCte("s", { kind: "session", userId: "s.user_id", sessionId: "s.id", at: "$3::timestamptz" });

/** `started.at`: when a session of the user row `u` starts, asked to start at
 * `createdAt`: after the user's last logout-all instant, even when this instance's
 * clock reads the same millisecond or a little earlier (logout-all ends the sessions
 * before it, never a login that came after it). */
function startedAfterLogoutAll(createdAt: string): string {
  return `LATERAL (SELECT GREATEST(${createdAt}, u.sessions_revoked_before + interval '1 millisecond') AS at) started`;
}

/**
 * Inserts a new session and its first refresh token for the user row `u`, with the
 * session in parameters $1..$7 (see sessionParams), started after the user's last
 * logout-all (startedAfterLogoutAll; the users row lock orders the two).
 */
const SESSION_OF_U = `s AS (
           INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, current_refresh_jti, ip, user_agent)
           SELECT $1, u.id, started.at, started.at, $3, $4, $6, $7
           FROM u, ${startedAfterLogoutAll("$2::timestamptz")}
           RETURNING id, user_id
         ), t AS (
           INSERT INTO outstanding_tokens (jti, session_id, user_id, created_at, expires_at)
           SELECT $4, s.id, s.user_id, $2, $5 FROM s
         )`;

const SESSION_PARAM_COUNT = 7;

/** The live sessions `s` of the user in $1 at the instant in parameter `now`, with
 * `u` their user. `s.revoked_at IS NULL` lets the planner use the partial index
 * on (user_id, last_used_at DESC). */
function liveOfUser(now: string): string {
  return `s.user_id = $1 AND u.id = s.user_id AND s.revoked_at IS NULL AND s.expires_at > ${now} AND NOT ${SESSION_REVOKED_SQL}`;
}

function sessionParams(session: NewSession): unknown[] {
  return [session.id, session.createdAt, session.expiresAt, session.refreshJti, session.refreshExpiresAt, session.client.ip, session.client.userAgent];
}

/** The event of a session just started in `s` (SESSION_OF_U), from parameter `first`. */
function sessionStartedEvent(first: number): string {
  return auditCte("ev", "s", { userId: "s.user_id", sessionId: "s.id" }, first);
}

type Rotation = Parameters<SessionRepository["rotate"]>[0];
type Rotated = Awaited<ReturnType<SessionRepository["rotate"]>>;

/** One login, as SessionRepository.login takes it. */
interface Login {
  phone: string;
  session: NewSession;
  updateLastLogin: boolean;
  note: AuditNote;
}

/**
 * How rotations are batched on each kind of database. PGlite has one connection: a
 * second statement in flight would only queue behind the first.
 *
 * PostgreSQL (a pool of 10, db.ts): 4 batches in flight leave 6 connections to
 * everything else (login batches, a CAS loser's rotationState, revocations, the
 * liveness read-through), and one batch waiting on a contested session row does
 * not stall every refresh. Measured at 64 refresh chains (test/bench/refresh.ts,
 * commits per refresh): 1 in flight 0.087, 4 in flight 0.156, 8 in flight 0.262;
 * before batching 1.02. Throughput could not tell the three apart on the shared
 * machine of that day (load 12–16 on 2 cores). 64 per batch bounds one statement
 * under a burst; at 64 chains batches stay far below it.
 */
export const ROTATION_BATCHING: Record<Database["kind"], Batching> = {
  pglite: { maxBatch: 64, maxInFlight: 1 },
  postgres: { maxBatch: 64, maxInFlight: 4 },
};

/** How logins are batched on each kind of database. PGlite has one connection: a
 * second statement in flight would only queue behind the first. PostgreSQL: a few
 * batches in flight, so the pool's other connections (10 in all) stay free for
 * everything else, while a batch that waits on a row lock holds up only its own. */
export const LOGIN_BATCHING: Record<Database["kind"], Batching> = {
  pglite: { maxBatch: 64, maxInFlight: 1 },
  postgres: { maxBatch: 64, maxInFlight: 4 },
};

/**
 * Rotations of many sessions as one statement (one round trip, one commit), each
 * row with the semantics of a lone rotation: the UPDATE of the session row is the
 * compare-and-swap (a rotation whose old jti is no longer the live one matches
 * nothing), and it records the client, except that a rotation with no IP (no
 * request behind it, e.g. the library's own call) leaves the last client as it
 * was. The session rows are locked first, in id order, so that concurrent batches
 * (other connections, other instances) queue on each other instead of deadlocking;
 * rotations of one session in two batches queue on its row and the later one finds
 * the jti changed. The group commit never puts one session in a batch twice.
 */
const ROTATE_BATCH_SQL = `WITH i AS (
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::text[], $7::text[])
             AS i(session_id, old_jti, new_jti, now, refresh_expires_at, ip, user_agent)
         ), ${lockSessionsInOrder("locked", "id = ANY($1::text[])")}, s AS (
           UPDATE sessions s SET current_refresh_jti = i.new_jti, last_used_at = i.now,
             ip = COALESCE(i.ip, s.ip), user_agent = CASE WHEN i.ip IS NULL THEN s.user_agent ELSE i.user_agent END
           FROM i, locked, users u
           WHERE s.id = i.session_id AND locked.id = s.id AND s.current_refresh_jti = i.old_jti AND u.id = s.user_id
             AND s.expires_at > i.now AND NOT ${SESSION_REVOKED_SQL}
           RETURNING s.id, s.user_id, s.expires_at, i.old_jti, i.new_jti, i.now, i.refresh_expires_at
         ), old AS (
           UPDATE outstanding_tokens t SET replaced_by = s.new_jti, rotated_at = s.now
           FROM s WHERE t.jti = s.old_jti
           RETURNING t.jti, s.now
         ), t AS (
           INSERT INTO outstanding_tokens (jti, session_id, user_id, created_at, expires_at)
           SELECT s.new_jti, s.id, s.user_id, s.now, s.refresh_expires_at FROM s
         ), b AS (
           INSERT INTO blacklisted_tokens (jti, blacklisted_at)
           SELECT old.jti, old.now FROM old
         )
         SELECT s.id AS session_id, ${U_COLUMNS}, s.expires_at AS session_expires_at
         FROM s JOIN users u ON u.id = s.user_id`;

/** SessionRepository.rotate through a group commit keyed by session (see ROTATE_BATCH_SQL). */
function createRotations(db: Queryable, batching: Batching): GroupCommit<Rotation, Rotated> {
  return createGroupCommit<Rotation, Rotated>({
    ...batching,
    keyOf: (rotation) => rotation.sessionId,
    async run(rotations) {
      const params = [
        rotations.map((r) => r.sessionId),
        rotations.map((r) => r.oldJti),
        rotations.map((r) => r.newJti),
        rotations.map((r) => r.now),
        rotations.map((r) => r.refreshExpiresAt),
        rotations.map((r) => r.client.ip),
        rotations.map((r) => r.client.userAgent),
      ];
      type Row = UserRow & { session_id: string; session_expires_at: Date };
      let rows: Row[];
      try {
        rows = await db.query<Row>(ROTATE_BATCH_SQL, params);
      } catch (error) {
        // The service's own statements lock sessions in id order (lockSessionsInOrder),
        // but anything else holding session rows (an older instance during a rolling
        // upgrade, an operator's transaction) can still close a cycle with a batch.
        // PostgreSQL rolled the whole batch back, so it runs once more; a lone
        // rotation's callers never heard of deadlocks, and should not now.
        if (!isDeadlock(error)) throw error;
        rows = await db.query<Row>(ROTATE_BATCH_SQL, params);
      }
      // Sessions are distinct within a batch: a row per winner, none for a loser.
      const won = new Map(rows.map((row) => [row.session_id, row]));
      return rotations.map((r) => {
        const row = won.get(r.sessionId);
        return row === undefined ? undefined : { user: userOfRow(row), sessionExpiresAt: row.session_expires_at };
      });
    },
  });
}

/** The arrays LOGIN_BATCH_SQL unnests: a login per position. */
const LOGIN_COLUMNS = ["phone", "session_id", "refresh_jti", "created_at", "expires_at", "refresh_expires_at", "ip", "user_agent", "update_last_login"] as const;
const LOGIN_ARRAY_TYPES = ["text", "text", "text", "timestamptz", "timestamptz", "timestamptz", "text", "text", "boolean"] as const;

/**
 * Logins of many phones as one statement (one round trip, one commit), each row
 * with the semantics of a lone login: only an active user's session starts (the
 * UPDATE re-checks is_active on the row it locked), last_login moves when asked,
 * the session starts after the user's last logout-all (SESSION_OF_U's rule), and
 * its refresh token and `user.logged_in` event are written with it. The users
 * rows are locked first, in phone order, so that concurrent batches (other
 * connections, other instances) queue on each other instead of deadlocking. The
 * lock is the one the UPDATE takes anyway (FOR NO KEY UPDATE): FOR UPDATE would
 * also hold up foreign-key checks of other sessions of those users. The group
 * commit never puts one phone in a batch twice.
 */
const LOGIN_BATCH_SQL = `WITH i AS (
           SELECT * FROM unnest(${LOGIN_ARRAY_TYPES.map((type, n) => `$${n + 1}::${type}[]`).join(", ")}, ${auditUnnest(LOGIN_COLUMNS.length + 1)})
             AS i(${[...LOGIN_COLUMNS, ...AUDIT_COLUMNS].join(", ")})
         ), locked AS (
           SELECT id FROM users WHERE phone = ANY($1::text[]) AND is_active ORDER BY phone FOR NO KEY UPDATE
         ), u AS (
           UPDATE users x SET last_login = CASE WHEN i.update_last_login THEN i.created_at ELSE x.last_login END
           FROM i, locked
           WHERE x.phone = i.phone AND x.id = locked.id AND x.is_active
           RETURNING ${USER_COLUMNS.split(", ").map((c) => `x.${c}`).join(", ")}, x.sessions_revoked_before,
             ${[...LOGIN_COLUMNS.slice(1), ...AUDIT_COLUMNS].map((c) => `i.${c}`).join(", ")}
         ), s AS (
           INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, current_refresh_jti, ip, user_agent)
           SELECT u.session_id, u.id, started.at, started.at, u.expires_at, u.refresh_jti, u.ip, u.user_agent
           FROM u, ${startedAfterLogoutAll("u.created_at")}
           RETURNING id, user_id
         ), begun AS (
           SELECT s.id AS sid, u.* FROM s JOIN u ON u.session_id = s.id
         ), t AS (
           INSERT INTO outstanding_tokens (jti, session_id, user_id, created_at, expires_at)
           SELECT refresh_jti, sid, id, created_at, refresh_expires_at FROM begun
         ), ${auditRowsCte("ev", "begun", { userId: "begun.id", sessionId: "begun.sid" })}
         SELECT ${USER_COLUMNS} FROM begun`;

/** SessionRepository.login through a group commit keyed by phone (see LOGIN_BATCH_SQL). */
function createLogins(db: Queryable, batching: Batching): GroupCommit<Login, User | undefined> {
  return createGroupCommit<Login, User | undefined>({
    ...batching,
    keyOf: (login) => login.phone,
    async run(logins) {
      const column = (of: (login: Login) => unknown) => logins.map(of);
      const rows = await db.query<UserRow>(LOGIN_BATCH_SQL, [
        // In the order of LOGIN_COLUMNS.
        column((l) => l.phone),
        column((l) => l.session.id),
        column((l) => l.session.refreshJti),
        column((l) => l.session.createdAt),
        column((l) => l.session.expiresAt),
        column((l) => l.session.refreshExpiresAt),
        column((l) => l.session.client.ip),
        column((l) => l.session.client.userAgent),
        column((l) => l.updateLastLogin),
        ...auditArrays(logins.map((l) => ({ note: l.note, at: l.session.createdAt }))),
      ]);
      // Phones are distinct within a batch (and unique among users): a row per session started.
      const started = new Map(rows.map((row) => [row.phone, userOfRow(row)]));
      return logins.map((l) => started.get(l.phone));
    },
  });
}

/** The group commits of rotations and logins, as far as tests and the bench look at them. */
export interface SessionBatches {
  readonly rotationBatches: Pick<GroupCommit<Rotation, Rotated>, "stats" | "queued">;
  readonly loginBatches: Pick<GroupCommit<Login, User | undefined>, "stats" | "queued">;
}

/** Over a Database, rotations and logins are batched for its kind; over a bare connection, one statement in flight. */
export function createSessionRepository(db: Queryable & { readonly kind?: Database["kind"] }): SessionRepository & SessionSnapshots & SessionBatches {
  const kind = db.kind ?? "pglite";
  const rotations = createRotations(db, ROTATION_BATCHING[kind]);
  const logins = createLogins(db, LOGIN_BATCHING[kind]);
  return {
    rotationBatches: rotations,
    loginBatches: logins,
    async register(user, session, updateLastLogin, note) {
      // $1..$7 are the session (sessionParams); the user follows, then the event.
      const rows = await db.query<UserRow>(
        `WITH u AS (
           INSERT INTO users (id, phone, first_name, last_name, date_joined, last_login)
           VALUES ($8, $9, $10, $11, $2, CASE WHEN $12::boolean THEN $2::timestamptz END)
           ON CONFLICT (phone) DO NOTHING
           RETURNING ${USER_COLUMNS}, sessions_revoked_before
         ), ${SESSION_OF_U}, ${sessionStartedEvent(SESSION_PARAM_COUNT + 6)}
         SELECT ${USER_COLUMNS} FROM u`,
        [...sessionParams(session), user.id, user.phone, user.firstName, user.lastName, updateLastLogin, ...auditParams(note, session.createdAt)],
      );
      return firstUser(rows);
    },

    login: (phone, session, updateLastLogin, note) => logins.submit({ phone, session, updateLastLogin, note }),

    async exchangeLegacy(token, session, updateLastLogin, note) {
      // The user row is locked first, so the user's state cannot change between the
      // check and the session; racing exchanges of one jti then queue on it, and
      // all but the first find the jti spent (the primary key). Nothing is spent for
      // a user who gets no session.
      const rows = await db.query<Partial<UserRow> & { known_active: boolean }>(
        `WITH known AS (
           SELECT id, is_active FROM users WHERE legacy_id = $8::bigint FOR UPDATE
         ), spent AS (
           INSERT INTO legacy_spent_tokens (jti, reason, spent_at, expires_at)
           SELECT $9, 'exchanged', $2, $10 FROM known WHERE known.is_active
           ON CONFLICT (jti) DO NOTHING
           RETURNING jti
         ), u AS (
           UPDATE users SET last_login = CASE WHEN $11::boolean THEN $2::timestamptz ELSE last_login END
           WHERE id = (SELECT id FROM known) AND EXISTS (SELECT 1 FROM spent)
           RETURNING ${USER_COLUMNS}, sessions_revoked_before
         ), ${SESSION_OF_U}, ${sessionStartedEvent(SESSION_PARAM_COUNT + 5)}
         SELECT known.is_active AS known_active, ${U_COLUMNS}
         FROM known LEFT JOIN u ON u.id = known.id`,
        [...sessionParams(session), token.legacyId, token.jti, token.expiresAt, updateLastLogin, ...auditParams(note, session.createdAt)],
      );
      const row = rows[0];
      if (row === undefined) return { kind: "not_imported" };
      if (!row.known_active) return { kind: "inactive" };
      return row.id === undefined || row.id === null ? { kind: "spent" } : { kind: "started", user: userOfRow(row as UserRow) };
    },

    rotate: (input) => rotations.submit(input),

    async rotationState(jti) {
      const rows = await db.query<UserRow & {
        session_id: string; replaced_by: string | null; rotated_at: Date | null; session_revoked: boolean;
        session_expires_at: Date; current_refresh_jti: string; next_created_at: Date | null; next_expires_at: Date | null;
      }>(
        `SELECT ${U_COLUMNS},
                t.session_id, t.replaced_by, t.rotated_at, ${SESSION_REVOKED_SQL} AS session_revoked,
                s.expires_at AS session_expires_at, s.current_refresh_jti,
                n.created_at AS next_created_at, n.expires_at AS next_expires_at
         FROM outstanding_tokens t
         JOIN sessions s ON s.id = t.session_id
         JOIN users u ON u.id = s.user_id
         LEFT JOIN outstanding_tokens n ON n.jti = t.replaced_by
         WHERE t.jti = $1`,
        [jti],
      );
      const row = rows[0];
      if (row === undefined) return undefined;
      const { session_id, replaced_by, rotated_at, session_revoked, session_expires_at, current_refresh_jti, next_created_at, next_expires_at } = row;
      return {
        sessionId: session_id,
        userId: row.id,
        replacedBy: replaced_by,
        rotatedAt: rotated_at,
        sessionRevoked: session_revoked,
        sessionExpiresAt: session_expires_at,
        successor:
          replaced_by !== null && next_created_at !== null && next_expires_at !== null
            ? { jti: replaced_by, createdAt: next_created_at, expiresAt: next_expires_at, isCurrent: current_refresh_jti === replaced_by }
            : null,
        user: userOfRow(row),
      };
    },

    async revoke(sessionId, reason, now, note) {
      const rows = await db.query(
        `WITH s AS (
           UPDATE sessions SET revoked_at = $3, revoked_reason = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING id, user_id
         ), ${auditCte("ev", "s", { userId: "s.user_id", sessionId: "s.id" }, 4)}, ${SESSION_REVOKED_EVENTS}
         SELECT id FROM s`,
        [sessionId, reason, now, ...auditParams(note, now)],
      );
      return rows.length > 0;
    },

    async listLive(userId, now) {
      const rows = await db.query<{ id: string; created_at: Date; last_used_at: Date; expires_at: Date; ip: string | null; user_agent: string | null }>(
        // Ties (one instant) by the newer start, then by id in byte order, as the in-memory twin does.
        `SELECT s.id, s.created_at, s.last_used_at, s.expires_at, s.ip, s.user_agent
         FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE ${liveOfUser("$2")}
         ORDER BY s.last_used_at DESC, s.created_at DESC, s.id COLLATE "C"`,
        [userId, now],
      );
      return rows.map((row) => ({
        id: row.id,
        createdAt: row.created_at,
        lastUsedAt: row.last_used_at,
        expiresAt: row.expires_at,
        ip: row.ip,
        userAgent: row.user_agent,
      }));
    },

    async revokeOfUser(userId, sessionId, now, note) {
      const rows = await db.query(
        `WITH s AS (
           UPDATE sessions s SET revoked_at = $3, revoked_reason = 'user'
           FROM users u
           WHERE s.id = $2 AND ${liveOfUser("$3")}
           RETURNING s.id, s.user_id
         ), ${auditCte("ev", "s", { userId: "s.user_id", sessionId: "s.id" }, 4)}, ${SESSION_REVOKED_EVENTS}
         SELECT id FROM s`,
        [userId, sessionId, now, ...auditParams(note, now)],
      );
      return rows.length > 0;
    },

    async revokeOthers(userId, keep, sessionIds, now, note) {
      const rows = await db.query<{ revoked: string }>(
        `WITH who AS (
           SELECT id FROM users WHERE id = $1
         ), ${lockSessionsInOrder("ending", "id = ANY($4::text[]) AND user_id = $1 AND revoked_at IS NULL")}, s AS (
           UPDATE sessions s SET revoked_at = $3, revoked_reason = 'logout_others'
           FROM users u
           WHERE s.id IN (SELECT id FROM ending) AND s.id <> $2 AND ${liveOfUser("$3")}
           RETURNING s.id, s.user_id
         ), ${auditCte("ev", "who", { userId: "who.id", sessionId: "$2::text" }, 5, "jsonb_build_object('revoked', (SELECT count(*) FROM s))")}, ${SESSION_REVOKED_EVENTS}
         SELECT count(*) AS revoked FROM s`,
        [userId, keep, now, sessionIds, ...auditParams(note, now)],
      );
      return Number(rows[0]?.revoked ?? 0);
    },

    async revokeAllOfUser(userId, now, note) {
      const rows = await db.query<{ revoked: string; at: Date }>(
        `WITH ${END_EVERY_SESSION.latest("$1")}, u AS (
           UPDATE users SET sessions_revoked_before = ${END_EVERY_SESSION.revokedBefore("$2")}
           WHERE id = $1 RETURNING id, sessions_revoked_before AS at
         ), ${END_EVERY_SESSION.ended({ userId: "$1", now: "$2", reason: "'logout_all'", until: "u.at" })}, ${auditCte("ev", "u", { userId: "u.id", sessionId: "NULL::text" }, 3, "jsonb_build_object('revoked', (SELECT count(*) FROM s))")},
         ${revocationCte("u", { kind: "user_before", userId: "u.id", revokedBefore: "u.at", at: "$2::timestamptz" })}
         SELECT (SELECT count(*) FROM s) AS revoked, (SELECT at FROM u) AS at`,
        [userId, now, ...auditParams(note, now)],
      );
      return { revoked: Number(rows[0]?.revoked ?? 0), at: rows[0]?.at ?? now };
    },

    async snapshot(sessionId) {
      const rows = await db.query<{ user_id: string; created_at: Date; expires_at: Date; revoked: boolean; sessions_revoked_before: Date | null; is_active: boolean }>(
        `SELECT s.user_id, s.created_at, s.expires_at, s.revoked_at IS NOT NULL AS revoked, u.sessions_revoked_before, u.is_active
         FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1`,
        [sessionId],
      );
      const row = rows[0];
      if (row === undefined) return undefined;
      return {
        userId: row.user_id,
        createdAt: row.created_at,
        expiresAt: row.expires_at,
        revoked: row.revoked,
        sessionsRevokedBefore: row.sessions_revoked_before,
        userActive: row.is_active,
      };
    },

    async deleteExpired(now, limit) {
      // A session is deleted only with its last token (deleted here, or earlier), so
      // the FK cascade never reaches an unbounded number of rows: a long-lived,
      // often refreshed session can have thousands. Rows locked by someone else are
      // skipped, and left for the next run.
      const rows = await db.query<{ sessions: string; tokens: string }>(
        `WITH doomed AS (
           SELECT id FROM sessions WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED
         ), tokens AS (
           DELETE FROM outstanding_tokens WHERE jti IN (
             SELECT jti FROM outstanding_tokens WHERE session_id IN (SELECT id FROM doomed) LIMIT $2 FOR UPDATE SKIP LOCKED
           ) RETURNING jti
         ), gone AS (
           DELETE FROM sessions s WHERE s.id IN (SELECT id FROM doomed) AND NOT EXISTS (
             SELECT 1 FROM outstanding_tokens t WHERE t.session_id = s.id AND t.jti NOT IN (SELECT jti FROM tokens)
           ) RETURNING s.id
         )
         SELECT (SELECT count(*) FROM gone) AS sessions, (SELECT count(*) FROM tokens) AS tokens`,
        [now, limit],
      );
      return { sessions: Number(rows[0]?.sessions ?? 0), tokens: Number(rows[0]?.tokens ?? 0) };
    },

    async deleteExpiredTokens(now, limit) {
      // Short statements that skip locked rows, oldest first along the expiry index.
      const rows = await db.query<{ tokens: string }>(
        `WITH gone AS (
           DELETE FROM outstanding_tokens WHERE jti IN (
             SELECT jti FROM outstanding_tokens WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED
           ) RETURNING 1
         )
         SELECT count(*) AS tokens FROM gone`,
        [now, limit],
      );
      return Number(rows[0]?.tokens ?? 0);
    },
    async deleteExpiredLegacyTokens(now, limit) {
      const rows = await db.query<{ tokens: string }>(
        `WITH gone AS (
           DELETE FROM legacy_spent_tokens WHERE jti IN (
             SELECT jti FROM legacy_spent_tokens WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED
           ) RETURNING 1
         )
         SELECT count(*) AS tokens FROM gone`,
        [now, limit],
      );
      return Number(rows[0]?.tokens ?? 0);
    },
  };
}
