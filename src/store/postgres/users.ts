import type { Queryable } from "./db.js";

/** A row of `users`, as the domain reads it. */
export interface UserRecord {
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

export interface UserRepository {
  findByPhone(phone: string): Promise<UserRecord | undefined>;
  findById(id: string): Promise<UserRecord | undefined>;
  /** Changes the names that are given; undefined when the user does not exist. */
  updateNames(id: string, names: { first_name?: string | undefined; last_name?: string | undefined }): Promise<UserRecord | undefined>;
}

export function createUserRepository(db: Queryable): UserRepository {
  return {
    async findByPhone(phone) {
      const rows = await db.query<UserRecord>(`SELECT ${USER_COLUMNS} FROM users WHERE phone = $1`, [phone]);
      return rows[0];
    },
    async findById(id) {
      const rows = await db.query<UserRecord>(`SELECT ${USER_COLUMNS} FROM users WHERE id = $1`, [id]);
      return rows[0];
    },
    async updateNames(id, names) {
      const rows = await db.query<UserRecord>(
        `UPDATE users SET first_name = COALESCE($2, first_name), last_name = COALESCE($3, last_name)
         WHERE id = $1 RETURNING ${USER_COLUMNS}`,
        [id, names.first_name ?? null, names.last_name ?? null],
      );
      return rows[0];
    },
  };
}
