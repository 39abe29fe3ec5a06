import type { AuditNote } from "./audit.js";
import type { User } from "./users.js";

/** The client of a request, as a session and the audit trail record it. */
export interface ClientInfo {
  /** The client IP (TRUSTED_PROXIES resolved). */
  ip: string | null;
  /** The User-Agent, at most 256 characters (see core/sessions/client.ts). */
  userAgent: string | null;
}

/** The ids and instants of a session about to be created, with its first refresh token. */
export interface NewSession {
  id: string;
  refreshJti: string;
  createdAt: Date;
  expiresAt: Date;
  refreshExpiresAt: Date;
  /** Who opened it: recorded with the session as its ip, user_agent (and last_used_at = createdAt). */
  client: ClientInfo;
}

/** A live session as its user sees it in the list of where they are logged in. */
export interface LiveSession {
  id: string;
  createdAt: Date;
  /** The last login or refresh (access-token uses do not count). */
  lastUsedAt: Date;
  expiresAt: Date;
  /** The client of that last login or refresh. */
  ip: string | null;
  userAgent: string | null;
}

/** A user about to be created with their first session. */
export interface NewUser {
  id: string;
  phone: string;
  firstName: string;
  lastName: string;
}

/** What the store knows about a refresh token, its session and its successor. */
export interface RotationState {
  sessionId: string;
  userId: string;
  replacedBy: string | null;
  rotatedAt: Date | null;
  /** Revoked by logout, reuse detection, logout-all or a deactivated user. */
  sessionRevoked: boolean;
  sessionExpiresAt: Date;
  successor: { jti: string; createdAt: Date; expiresAt: Date; isCurrent: boolean } | null;
  user: User;
}

/** A refresh token the Django system issued (SimpleJWT), presented for exchange. */
export interface LegacyToken {
  /** Its user_id, in decimal: the imported user's legacy_id. */
  legacyId: string;
  jti: string;
  /** Its exp: past it, the spent jti guards nothing (the token is expired anyway). */
  expiresAt: Date;
}

/** How an exchange of a legacy token ended: a session started, or why not. */
export type LegacyExchange =
  | { kind: "started"; user: User }
  /** The jti was blacklisted in the Django system or exchanged here already. */
  | { kind: "spent" }
  /** No user has that legacy_id. */
  | { kind: "not_imported" }
  | { kind: "inactive" };

/**
 * Sessions and their refresh-token history. Each command is atomic on its own.
 * Failures to reach the store are thrown as `UnavailableError("database", …)`.
 */
export interface SessionRepository {
  /** Creates the user with a first session, and records `note` (about the new user
   * and session); undefined when the phone is taken (nothing recorded). */
  register(user: NewUser, session: NewSession, updateLastLogin: boolean, note: AuditNote): Promise<User | undefined>;
  /** Starts a session for an active user, recording `note`; undefined when no active
   * user has that phone (nothing recorded). */
  login(phone: string, session: NewSession, updateLastLogin: boolean, note: AuditNote): Promise<User | undefined>;
  /** Spends the legacy token's jti ('exchanged') and starts a session for its active
   * imported user, recording `note`, all at once: of any number of racing
   * exchanges of one jti exactly one starts a session. Nothing is spent or recorded
   * unless a session starts. */
  exchangeLegacy(token: LegacyToken, session: NewSession, updateLastLogin: boolean, note: AuditNote): Promise<LegacyExchange>;
  /** Compare-and-swap of the session's live refresh token, recording the client
   * (ip, user_agent, last_used_at = now) in the same statement; undefined when
   * `oldJti` is not the live token of a live session (the caller then reads `rotationState`). */
  rotate(input: { sessionId: string; oldJti: string; newJti: string; now: Date; refreshExpiresAt: Date; client: ClientInfo }): Promise<{ user: User; sessionExpiresAt: Date } | undefined>;
  rotationState(jti: string): Promise<RotationState | undefined>;
  /** Revokes one session, recording `note` (about it and its user) when it was live;
   * true when it was live. */
  revoke(sessionId: string, reason: string, now: Date, note: AuditNote): Promise<boolean>;
  /** The user's live sessions (not revoked, not expired at `now`, not ended by
   * logout-all, user active), most recently used first. */
  listLive(userId: string, now: Date): Promise<LiveSession[]>;
  /** Revokes one live session *of that user* (its user ended it from the list; a
   * session of anyone else is left alone), recording `note` about it; true when it
   * was one, false for an unknown, foreign or already ended session (nothing recorded). */
  revokeOfUser(userId: string, sessionId: string, now: Date, note: AuditNote): Promise<boolean>;
  /** Revokes those of `sessionIds` that are live sessions of the user, except
   * `keep` (logout-others), and returns how many. Records `note` once (when the user
   * exists), about the user and the session `keep`, with `details.revoked` set to
   * that count. */
  revokeOthers(userId: string, keep: string, sessionIds: readonly string[], now: Date, note: AuditNote): Promise<number>;
  /** Revokes every session the user has (logout-all) and returns how many were
   * live, and the instant recorded: `now`, or later when a session of the user was
   * started later by a clock ahead of this one, so that no existing session escapes.
   * Records `note` about the user, with `details.revoked` set to that count. */
  revokeAllOfUser(userId: string, now: Date, note: AuditNote): Promise<{ revoked: number; at: Date }>;
  /** One bounded batch: of up to `limit` expired sessions, deletes up to `limit` of
   * their refresh-token rows (a refresh token can outlive its session) and the
   * sessions left with none. */
  deleteExpired(now: Date, limit: number): Promise<{ sessions: number; tokens: number }>;
  /** Deletes up to `limit` expired refresh-token rows (and their blacklist rows). */
  deleteExpiredTokens(now: Date, limit: number): Promise<number>;
  /** Deletes up to `limit` spent Django refresh tokens past their own expiry (they
   * guard nothing then: the token is refused as expired anyway). */
  deleteExpiredLegacyTokens(now: Date, limit: number): Promise<number>;
}
