/**
 * The revocation log: every revocation, numbered in commit order without gaps, so
 * that reading `after(n)` never skips one. Written by the statements that revoke
 * (the store's own business); read by the feed.
 */

/** A session ended, or every session of a user up to an instant. */
export type RevocationKind = "session" | "user_before";

export interface Revocation {
  /** Its place in the log: 1, 2, 3, … in commit order. */
  id: number;
  kind: RevocationKind;
  /** Set for "session". */
  sessionId: string | null;
  userId: string;
  /** Set for "user_before": sessions created at or before it are dead. */
  revokedBefore: Date | null;
  /** When it was made. */
  at: Date;
}

/** The log's identity and extent, read in one statement. */
export interface RevocationLogState {
  /** Random per database. */
  epoch: string;
  /** The last id handed out (0: none yet); every id up to it is committed. */
  lastId: number;
  /** Ids up to this one may have been deleted by retention. */
  purgedThrough: number;
}

/** Failures to reach the store are thrown as `UnavailableError("database", …)`. */
export interface RevocationLog {
  state(): Promise<RevocationLogState>;
  /** Up to `limit` revocations with `afterId < id <= throughId` (no bound when
   * `throughId` is undefined) and, when given, `at >= since`, in id order. */
  read(query: { afterId: number; throughId?: number | undefined; since?: Date | undefined; limit: number }): Promise<Revocation[]>;
  /** Deletes up to `limit` revocations made before `before`; returns how many. */
  deleteOlderThan(before: Date, limit: number): Promise<number>;
}
