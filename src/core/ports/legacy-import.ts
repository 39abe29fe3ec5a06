/**
 * `identity import-django`: the Django system's tables as a source, read in
 * batches, and this service's store as the target of the import.
 */
import type { User, UserFlagChanges } from "./users.js";

/** A row of the Django user table as it comes: nothing about it is trusted yet. */
export interface DjangoUserRow {
  id: unknown;
  phone: unknown;
  first_name: unknown;
  last_name: unknown;
  is_staff: unknown;
  is_active: unknown;
  date_joined: unknown;
  last_login: unknown;
}

/** A Django user checked for import (checkDjangoUser): the phone in E.164, the names cleaned. */
export interface LegacyUser extends Omit<User, "id"> {
  legacyId: number;
}

/** A refresh token SimpleJWT blacklisted (a logout there). */
export interface BlacklistedToken {
  jti: string;
  blacklistedAt: Date;
  expiresAt: Date;
}

export interface DjangoSource {
  /** Every user, in id order, `batchSize` rows at a time. */
  users(batchSize: number): AsyncIterable<DjangoUserRow[]>;
  /** Every blacklisted refresh token, `batchSize` at a time (none when the source has
   * no SimpleJWT blacklist tables). */
  blacklist(batchSize: number): AsyncIterable<BlacklistedToken[]>;
}

/** Why the target refused a user: its phone belongs to a user imported from another
 * Django id, or its Django id was imported with another phone. */
export interface ImportConflict {
  legacyId: number;
  reason: string;
}

/** The active and staff flags Django holds for a user who was here already, where
 * they differ from ours (only the differing ones are set). */
export interface FlagChange extends UserFlagChanges {
  userId: string;
}

export interface UpsertedUsers {
  imported: number;
  /** Users changed, or whose flags are to change (flagChanges). */
  updated: number;
  unchanged: number;
  conflicts: ImportConflict[];
  /** Left to applyFlagChanges: they end sessions and must reach running instances. */
  flagChanges: FlagChange[];
}

export interface LegacyImportTarget {
  /** Upserts the users by phone (no phone or legacy id twice in one call), each event
   * recorded with its change; `now` is the instant of the events. New users get
   * their flags; a known user's differing flags are answered, not changed. */
  upsertUsers(users: readonly LegacyUser[], now: Date): Promise<UpsertedUsers>;
  /** Records the tokens as spent; how many were not already. */
  recordBlacklisted(tokens: readonly BlacklistedToken[]): Promise<number>;
}
