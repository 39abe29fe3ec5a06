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
    async updateNames(id, names) {
      const rows = await db.query<UserRow>(
        `UPDATE users SET first_name = COALESCE($2, first_name), last_name = COALESCE($3, last_name)
         WHERE id = $1 RETURNING ${USER_COLUMNS}`,
        [id, names.firstName ?? null, names.lastName ?? null],
      );
      return firstUser(rows);
    },
  };
}
