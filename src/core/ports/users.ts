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
  /** `id` must be a UUID (callers check: PostgreSQL refuses anything else with an error). */
  findById(id: string): Promise<User | undefined>;
  /**
   * Changes the names that are given; undefined when the user does not exist.
   * Records `note` about the user, at `now`, in the same statement, with `details.fields` the
   * names of the fields whose value changed (`first_name`, `last_name`); an update
   * that changes no value records nothing.
   */
  updateNames(id: string, names: { firstName?: string | undefined; lastName?: string | undefined }, now: Date, note: AuditNote): Promise<User | undefined>;
}
