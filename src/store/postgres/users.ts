import type { AdminUserView, ListedUser, User, UserRepository, UserSearch } from "../../core/ports/users.js";
import { auditCte, auditParams } from "./audit.js";
import { createGroupCommit, type Batching } from "../../lib/group-commit.js";
import type { Database, Queryable } from "./db.js";
import { END_EVERY_SESSION } from "./end-every-session.js";
import { revocationCte } from "./revocations.js";

/** A row of `users`, as selected by USER_COLUMNS. */
export interface UserRow {
  id: string;
  phone: string;
  first_name: string;
  last_name: string;
  is_staff: boolean;
  is_active: boolean;
  date_joined: Date;
  last_login: Date | null;
}

export const USER_COLUMNS = "id, phone, first_name, last_name, is_staff, is_active, date_joined, last_login";

/** The one mapping from a row of `users` (or a row that holds its columns) to the domain's User. */
export function userOfRow(row: UserRow): User {
  return {
    id: row.id,
    phone: row.phone,
    firstName: row.first_name,
    lastName: row.last_name,
    isStaff: row.is_staff,
    isActive: row.is_active,
    dateJoined: row.date_joined,
    lastLogin: row.last_login,
  };
}

/** The user of the first row, if any. */
export function firstUser(rows: UserRow[]): User | undefined {
  const row = rows[0];
  return row === undefined ? undefined : userOfRow(row);
}

/**
 * The live sessions of the user row `u` at the instant in parameter `now`: none for an
 * inactive user; else those not revoked, not expired and started after logout-all
 * (the partial index on (user_id) WHERE revoked_at IS NULL serves it).
 */
function liveSessionsSql(now: string): string {
  return `CASE WHEN u.is_active THEN (
             SELECT count(*)::int FROM sessions s
             WHERE s.user_id = u.id AND s.revoked_at IS NULL AND s.expires_at > ${now}
               AND s.created_at > COALESCE(u.sessions_revoked_before, '-infinity')
           ) ELSE 0 END`;
}

/** USER_COLUMNS of the users row aliased `u`. */
export const U_COLUMNS = USER_COLUMNS.split(", ").map((c) => `u.${c}`).join(", ");

type ViewRow = UserRow & { live_sessions: number };

function viewOfRow(row: ViewRow): AdminUserView {
  return { user: userOfRow(row), liveSessions: row.live_sessions };
}

/** `\`, `%` and `_` match themselves in a LIKE pattern (backslash is LIKE's escape). */
function likeLiteral(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** The WHERE clause and parameters of a search; `param` numbers each value. */
function searchConditions(query: UserSearch, param: (value: unknown) => string): string[] {
  const where: string[] = [];
  if (query.phone !== undefined) where.push(`u.phone = ${param(query.phone)}`);
  // text_pattern_ops index: a prefix LIKE is a range scan whatever the collation.
  if (query.phonePrefix !== undefined) where.push(`u.phone LIKE ${param(`${likeLiteral(query.phonePrefix)}%`)}`);
  if (query.namePart !== undefined) {
    // pg_trgm GIN indexes on lower(first_name) and lower(last_name): a bitmap OR.
    const pattern = param(`%${likeLiteral(query.namePart)}%`);
    where.push(`(lower(u.first_name) LIKE lower(${pattern}) OR lower(u.last_name) LIKE lower(${pattern}))`);
  }
  if (query.after !== undefined) {
    // Keyset paging along (date_joined DESC, id DESC); the instant exact to the microsecond.
    const joined = `'epoch'::timestamptz + (${param(query.after.dateJoinedMicros.toString())}::bigint || ' microseconds')::interval`;
    where.push(`(u.date_joined, u.id) < (${joined}, ${param(query.after.id)}::uuid)`);
  }
  return where;
}

/** How many phones one read by phone carries, and how many such reads run at once
 * (PGlite has one connection: a second would only queue behind the first). */
const READ_BY_PHONE_BATCHING: Record<Database["kind"], Batching> = {
  pglite: { maxBatch: 64, maxInFlight: 1 },
  postgres: { maxBatch: 64, maxInFlight: 2 },
};

/** Over a Database, reads by phone that arrive together (every login reads its
 * user before its code is checked) share one statement; over a bare connection, one at a time. */
export function createUserRepository(db: Queryable & { readonly kind?: Database["kind"] }): UserRepository {
  const byPhone = createGroupCommit<string, User | undefined>({
    ...READ_BY_PHONE_BATCHING[db.kind ?? "pglite"],
    keyOf: (phone) => phone,
    async run(phones) {
      const rows = await db.query<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE phone = ANY($1::text[])`, [phones]);
      const found = new Map(rows.map((row) => [row.phone, userOfRow(row)]));
      return phones.map((phone) => found.get(phone));
    },
  });
  return {
    findByPhone: (phone) => byPhone.submit(phone),
    async create(user, at, note) {
      // The event is inserted once per row the INSERT returns: none for a taken phone.
      const rows = await db.query<UserRow>(
        `WITH u AS (
           INSERT INTO users (id, phone, first_name, last_name, is_staff, date_joined)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (phone) DO NOTHING
           RETURNING ${USER_COLUMNS}
         ), ${auditCte("ev", "u", { userId: "u.id", sessionId: "NULL" }, 7)}
         SELECT ${USER_COLUMNS} FROM u`,
        [user.id, user.phone, user.firstName, user.lastName, user.isStaff, at, ...auditParams(note, at)],
      );
      return firstUser(rows);
    },
    async findById(id) {
      return firstUser(await db.query<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE id = $1`, [id]));
    },
    async updateNames(id, names, now, note) {
      // The row is read locked before the change, so `fields` compares with what
      // this update replaced, also when another update of the user came first.
      const rows = await db.query<UserRow>(
        `WITH old AS (
           SELECT id, first_name, last_name FROM users WHERE id = $1 FOR UPDATE
         ), u AS (
           UPDATE users SET first_name = COALESCE($2, users.first_name), last_name = COALESCE($3, users.last_name)
           FROM old WHERE users.id = old.id
           RETURNING ${USER_COLUMNS.split(", ").map((c) => `users.${c}`).join(", ")}
         ), changed AS (
           SELECT c.id, c.fields FROM (
             SELECT u.id, array_remove(ARRAY[
               CASE WHEN u.first_name IS DISTINCT FROM old.first_name THEN 'first_name' END,
               CASE WHEN u.last_name IS DISTINCT FROM old.last_name THEN 'last_name' END
             ], NULL) AS fields
             FROM u JOIN old ON old.id = u.id
           ) c WHERE cardinality(c.fields) > 0
         ), ${auditCte("ev", "changed", { userId: "changed.id", sessionId: "NULL::text" }, 4, "jsonb_build_object('fields', to_jsonb(changed.fields))")}
         SELECT ${USER_COLUMNS} FROM u`,
        [id, names.firstName ?? null, names.lastName ?? null, ...auditParams(note, now)],
      );
      return firstUser(rows);
    },

    async findView(id, now) {
      const rows = await db.query<ViewRow>(`SELECT ${U_COLUMNS}, ${liveSessionsSql("$2")} AS live_sessions FROM users u WHERE u.id = $1`, [id, now]);
      const row = rows[0];
      return row === undefined ? undefined : viewOfRow(row);
    },

    async search(query) {
      const params: unknown[] = [];
      const param = (value: unknown) => `$${params.push(value)}`;
      const now = param(query.now);
      const where = searchConditions(query, param);
      const rows = await db.query<ViewRow & { joined_micros: string }>(
        `SELECT ${U_COLUMNS}, ${liveSessionsSql(now)} AS live_sessions,
                (extract(epoch FROM u.date_joined) * 1000000)::bigint::text AS joined_micros
         FROM users u ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""}
         ORDER BY u.date_joined DESC, u.id DESC LIMIT ${param(query.limit)}`,
        params,
      );
      return rows.map((row): ListedUser => ({ ...viewOfRow(row), position: { dateJoinedMicros: BigInt(row.joined_micros), id: row.id } }));
    },

    async updateFlags(id, changes, now, note) {
      const DEACTIVATING = "$2::boolean IS FALSE";
      // Deactivation is logout-all's statement (sessions.ts revokeAllOfUser) with the
      // flags set in the same UPDATE of the user row, so the row lock orders it with
      // every login (which starts a session only for an active user, after the instant).
      // Its feed entry is logout-all's too: reactivation leaves the instant where it is,
      // so sessions from before the deactivation stay dead, as the feed says.
      const rows = await db.query<ViewRow & { at: Date | null; revoked: string }>(
        `WITH ${END_EVERY_SESSION.latest("$1", DEACTIVATING)}, u AS (
           UPDATE users SET is_active = COALESCE($2, is_active), is_staff = COALESCE($3, is_staff),
             sessions_revoked_before = CASE WHEN ${DEACTIVATING} THEN ${END_EVERY_SESSION.revokedBefore("$4")} ELSE sessions_revoked_before END
           WHERE id = $1 RETURNING ${USER_COLUMNS}, sessions_revoked_before
         ), ${END_EVERY_SESSION.ended({ userId: "$1", now: "$4", reason: "'deactivated'", until: "u.sessions_revoked_before", when: DEACTIVATING })}, ${auditCte("ev", "u", { userId: "u.id", sessionId: "NULL::text" }, 5)},
         deactivated AS (SELECT id, sessions_revoked_before FROM u WHERE ${DEACTIVATING}),
         ${revocationCte("deactivated", { kind: "user_before", userId: "deactivated.id", revokedBefore: "deactivated.sessions_revoked_before", at: "$4::timestamptz" })}
         SELECT ${U_COLUMNS}, ${liveSessionsSql("$4")} AS live_sessions, u.sessions_revoked_before AS at, (SELECT count(*) FROM s) AS revoked FROM u`,
        [id, changes.isActive ?? null, changes.isStaff ?? null, now, ...auditParams(note, now)],
      );
      const row = rows[0];
      return row === undefined ? undefined : { view: viewOfRow(row), at: row.at, revoked: Number(row.revoked) };
    },
  };
}
