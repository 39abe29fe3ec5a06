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
  /** Changes the names that are given; undefined when the user does not exist. */
  updateNames(id: string, names: { firstName?: string | undefined; lastName?: string | undefined }): Promise<User | undefined>;
}
