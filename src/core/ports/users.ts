import type { AuditNote } from "./audit.js";

/** A user as the domain reads it (the store maps its rows to this). */
export interface User {
  id: string;
  phone: string;
  firstName: string;
  lastName: string;
  isStaff: boolean;
  isActive: boolean;
  dateJoined: Date;
  lastLogin: Date | null;
}

/** Where users are kept. Failures to reach it are thrown as `UnavailableError("database", …)`. */
export interface UserRepository {
  findByPhone(phone: string): Promise<User | undefined>;
  /**
   * Creates a user with no session (an operator's command, not a sign-up) and
   * records `note` about them, in one statement; undefined when the phone is taken
   * (nothing created, nothing recorded).
   */
  create(user: { id: string; phone: string; firstName: string; lastName: string; isStaff: boolean }, at: Date, note: AuditNote): Promise<User | undefined>;
  /** `id` must be a UUID (callers check: PostgreSQL refuses anything else with an error). */
  findById(id: string): Promise<User | undefined>;
  /** Changes the names that are given; undefined when the user does not exist. */
  updateNames(id: string, names: { firstName?: string | undefined; lastName?: string | undefined }): Promise<User | undefined>;
}
