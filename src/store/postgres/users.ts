import type { User, UserRepository } from "../../core/ports/users.js";
import { auditCte, auditParams } from "./audit.js";
import type { Queryable } from "./db.js";

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

export function createUserRepository(db: Queryable): UserRepository {
  return {
    async findByPhone(phone) {
      return firstUser(await db.query<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE phone = $1`, [phone]));
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
  };
}
