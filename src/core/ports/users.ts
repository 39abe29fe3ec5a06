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

/** A user as staff see them: with their live sessions counted. */
export interface AdminUserView {
  user: User;
  /** Sessions that are not revoked, not expired, and not ended by logout-all. */
  liveSessions: number;
}

/** A user's place in the newest-first listing (date_joined, then id, both descending).
 * Microseconds: PostgreSQL keeps them, and a position must name one place exactly. */
export interface UserPosition {
  dateJoinedMicros: bigint;
  id: string;
}

/** Which users to list, newest `date_joined` first; every filter given must hold. */
export interface UserSearch {
  /** E.164, matched exactly. */
  phone?: string | undefined;
  /** A beginning of the E.164 phone, `+` included (`+98912`). */
  phonePrefix?: string | undefined;
  /** A part of the first or the last name, matched case-insensitively (as SQL's lower()). */
  namePart?: string | undefined;
  /** Keyset paging: only users strictly after this place. */
  after?: UserPosition | undefined;
  limit: number;
  /** Sessions expired at this instant are not counted live. */
  now: Date;
}

/** A user of a listing, with its place (for the next page to start after). */
export interface ListedUser extends AdminUserView {
  position: UserPosition;
}

/** What staff may change of a user: only the fields given change. */
export interface UserFlagChanges {
  isActive?: boolean | undefined;
  isStaff?: boolean | undefined;
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
  /**
   * Changes the names that are given; undefined when the user does not exist.
   * Records `note` about the user, at `now`, in the same statement, with `details.fields` the
   * names of the fields whose value changed (`first_name`, `last_name`); an update
   * that changes no value records nothing.
   */
  updateNames(id: string, names: { firstName?: string | undefined; lastName?: string | undefined }, now: Date, note: AuditNote): Promise<User | undefined>;
  /** The user with their live sessions counted at `now`; undefined when unknown. `id` a UUID. */
  findView(id: string, now: Date): Promise<AdminUserView | undefined>;
  /** A page of users (see UserSearch). */
  search(query: UserSearch): Promise<ListedUser[]>;
  /**
   * Sets the flags given (at least one) and records `note` about the user, in one
   * statement. Deactivating (`isActive: false`) also ends every
   * session of the user as revokeAllOfUser does (revoked_reason `deactivated`), the
   * logout-all instant moved to `now` or past the newest live session. Returns the
   * user after the change, their live sessions counted at `now`, their logout-all
   * instant `at` (null: never), and how many sessions the change ended (`revoked`,
   * 0 unless deactivating); undefined when no user has that id (nothing changed,
   * nothing recorded).
   */
  updateFlags(id: string, changes: UserFlagChanges, now: Date, note: AuditNote): Promise<{ view: AdminUserView; at: Date | null; revoked: number } | undefined>;
}
