/**
 * The PostgreSQL repositories' contract held in memory, so core's rules can be
 * tested in milliseconds. Each command is synchronous inside one call (JavaScript
 * runs one at a time), which is what makes it atomic here as one SQL statement is
 * there. test/ports-contract.test.ts runs the same cases against both, so this
 * cannot drift from src/store/postgres.
 */
import { actorName, type AuditEvent, type AuditLog, type AuditNote } from "../../../src/core/ports/audit.js";
import type { ClientInfo, LiveSession, NewSession, NewUser, RotationState, SessionRepository } from "../../../src/core/ports/sessions.js";
import type { AdminUserView, ListedUser, User, UserRepository } from "../../../src/core/ports/users.js";
import type { SessionSnapshot, SessionSnapshots } from "../../../src/store/postgres/sessions.js";

interface UserRow extends User {
  /** Logout-all: sessions created at or before it are dead. */
  sessionsRevokedBefore: Date | null;
}

interface SessionRow {
  id: string;
  userId: string;
  createdAt: Date;
  expiresAt: Date;
  currentRefreshJti: string;
  revokedAt: Date | null;
  revokedReason: string | null;
  ip: string | null;
  userAgent: string | null;
  lastUsedAt: Date;
}

interface TokenRow {
  jti: string;
  sessionId: string;
  userId: string;
  createdAt: Date;
  expiresAt: Date;
  replacedBy: string | null;
  rotatedAt: Date | null;
}

/** A row of legacy_spent_tokens. */
export interface LegacySpent {
  reason: "blacklisted" | "exchanged";
  spentAt: Date;
  expiresAt: Date | null;
}

export interface MemoryStores {
  users: UserRepository;
  sessions: SessionRepository & SessionSnapshots;
  audit: AuditLog;
  /** What tests do to the data that no port offers (staff tools come later). */
  admin: {
    setActive(userId: string, active: boolean): void;
    /** Jtis of the blacklisted refresh tokens of a session. */
    blacklisted(sessionId: string): string[];
    /** The session's one live refresh token. */
    liveRefreshJti(sessionId: string): string | undefined;
    /** When and why the session was revoked (its revoked_at and revoked_reason); null while it is not. */
    revocation(sessionId: string): { at: Date; reason: string } | null | undefined;
    counts(): { users: number; sessions: number; tokens: number; blacklisted: number };
    /** The client a session last recorded (its ip, user_agent and last_used_at). */
    sessionClient(sessionId: string): (ClientInfo & { lastUsedAt: Date }) | undefined;
    /** Every audit event, oldest first. */
    auditEvents(): AuditEvent[];
    /** Marks the user as imported from the Django system with that id (as import-django does). */
    setLegacyId(userId: string, legacyId: string): void;
    /** Spends a Django refresh token's jti as import-django does with one blacklisted there. */
    blacklistLegacy(jti: string, expiresAt: Date | null): void;
    /** Why and when a legacy jti was spent; undefined while it is not. */
    legacySpent(jti: string): LegacySpent | undefined;
  };
}

export function createMemoryStores(): MemoryStores {
  const users = new Map<string, UserRow>();
  const userIdByPhone = new Map<string, string>();
  const sessions = new Map<string, SessionRow>();
  const tokens = new Map<string, TokenRow>();
  const blacklist = new Map<string, Date>();
  /** users.legacy_id, unique where set: legacy id → user id. */
  const userIdByLegacyId = new Map<string, string>();
  const legacySpent = new Map<string, LegacySpent>();
  const events: AuditEvent[] = [];
  /** The last event id given out: ids only grow, also across deletions (an identity column). */
  let lastEventId = 0;

  /** As auditCte: the note, about a user and a session; no actor is the user's own doing. */
  function record(note: AuditNote, at: Date, userId: string | null, sessionId: string | null, extraDetails: Record<string, unknown> = {}): void {
    // PostgreSQL's NOT NULL on actor refuses an event about no one that names no actor.
    if (note.actor === undefined && userId === null) throw new Error("an audit event needs an actor or a user");
    events.push({
      id: String((lastEventId += 1)),
      at,
      type: note.type,
      userId,
      sessionId,
      actor: note.actor === undefined ? `user:${userId}` : actorName(note.actor),
      ip: note.client?.ip ?? null,
      userAgent: note.client?.userAgent ?? null,
      details: { ...note.details, ...extraDetails },
    });
  }

  const userOf = (row: UserRow): User => ({
    id: row.id,
    phone: row.phone,
    firstName: row.firstName,
    lastName: row.lastName,
    isStaff: row.isStaff,
    isActive: row.isActive,
    dateJoined: row.dateJoined,
    lastLogin: row.lastLogin,
  });

  /** As SESSION_REVOKED_SQL: revoked, its user inactive, or started at or before logout-all. */
  const sessionDead = (session: SessionRow, user: UserRow): boolean =>
    session.revokedAt !== null || !user.isActive || (user.sessionsRevokedBefore !== null && session.createdAt <= user.sessionsRevokedBefore);

  /** As the PostgreSQL repository's liveOfUser: a live session of that user at `now`. */
  function liveOfUser(userId: string, now: Date): (session: SessionRow) => boolean {
    const user = users.get(userId.toLowerCase());
    return (session) => user !== undefined && session.userId === user.id && session.expiresAt > now && !sessionDead(session, user);
  }

  /** As ORDER BY last_used_at DESC, created_at DESC, id COLLATE "C". */
  const mostRecentlyUsedFirst = (a: SessionRow, b: SessionRow): number =>
    b.lastUsedAt.getTime() - a.lastUsedAt.getTime() || b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

  /** A session starts after its user's logout-all instant, whatever the caller's clock says. */
  function insertSession(user: UserRow, session: NewSession, note: AuditNote): void {
    const after = user.sessionsRevokedBefore === null ? -Infinity : user.sessionsRevokedBefore.getTime() + 1;
    const createdAt = new Date(Math.max(session.createdAt.getTime(), after));
    sessions.set(session.id, {
      id: session.id,
      userId: user.id,
      createdAt,
      expiresAt: session.expiresAt,
      currentRefreshJti: session.refreshJti,
      revokedAt: null,
      revokedReason: null,
      ip: session.client.ip,
      userAgent: session.client.userAgent,
      lastUsedAt: createdAt,
    });
    record(note, session.createdAt, user.id, session.id);
    tokens.set(session.refreshJti, {
      jti: session.refreshJti,
      sessionId: session.id,
      userId: user.id,
      createdAt: session.createdAt,
      expiresAt: session.refreshExpiresAt,
      replacedBy: null,
      rotatedAt: null,
    });
  }

  /** As liveSessionsSql: none for an inactive user; else not revoked, not expired, and after logout-all. */
  function viewOf(row: UserRow, now: Date): AdminUserView {
    let liveSessions = 0;
    if (row.isActive) {
      for (const session of sessions.values()) {
        const afterLogoutAll = row.sessionsRevokedBefore === null || session.createdAt > row.sessionsRevokedBefore;
        if (session.userId === row.id && session.revokedAt === null && session.expiresAt > now && afterLogoutAll) liveSessions += 1;
      }
    }
    return { user: userOf(row), liveSessions };
  }

  /** A user's place in the newest-first listing: date_joined in microseconds, then id. */
  const positionOf = (row: UserRow) => ({ dateJoinedMicros: BigInt(row.dateJoined.getTime()) * 1000n, id: row.id });
  const newestFirst = (a: { dateJoinedMicros: bigint; id: string }, b: { dateJoinedMicros: bigint; id: string }): number =>
    a.dateJoinedMicros !== b.dateJoinedMicros ? (a.dateJoinedMicros > b.dateJoinedMicros ? -1 : 1) : a.id === b.id ? 0 : a.id > b.id ? -1 : 1;

  /**
   * As revokeAllOfUser's statement: the logout-all instant moves to `now`, or past the
   * newest live session (a clock ahead), never back; the live unexpired sessions it
   * covers that an earlier instant did not are revoked with `reason`. Returns how many.
   */
  function endSessionsOf(user: UserRow, now: Date, reason: string): number {
    const previous = user.sessionsRevokedBefore;
    let at = Math.max(previous?.getTime() ?? -Infinity, now.getTime());
    for (const session of sessions.values()) {
      if (session.userId === user.id && session.revokedAt === null) at = Math.max(at, session.createdAt.getTime());
    }
    user.sessionsRevokedBefore = new Date(at);
    let revoked = 0;
    for (const session of sessions.values()) {
      const coveredNow = session.createdAt.getTime() <= at && (previous === null || session.createdAt > previous);
      if (session.userId === user.id && session.revokedAt === null && session.expiresAt > now && coveredNow) {
        session.revokedAt = now;
        session.revokedReason = reason;
        revoked += 1;
      }
    }
    return revoked;
  }

  const userRepository: UserRepository = {
    async findByPhone(phone) {
      const id = userIdByPhone.get(phone);
      const row = id === undefined ? undefined : users.get(id);
      return row === undefined ? undefined : userOf(row);
    },
    async create(newUser, at, note) {
      if (userIdByPhone.has(newUser.phone)) return undefined;
      const row: UserRow = { ...newUser, isActive: true, dateJoined: at, lastLogin: null, sessionsRevokedBefore: null };
      users.set(row.id, row);
      userIdByPhone.set(row.phone, row.id);
      record(note, at, row.id, null);
      return userOf(row);
    },
    async findById(id) {
      // A UUID is one value however it is written, as in PostgreSQL's uuid type.
      const row = users.get(id.toLowerCase());
      return row === undefined ? undefined : userOf(row);
    },
    async updateNames(id, names, now, note) {
      const row = users.get(id.toLowerCase());
      if (row === undefined) return undefined;
      const fields: string[] = [];
      if (names.firstName !== undefined && names.firstName !== row.firstName) {
        row.firstName = names.firstName;
        fields.push("first_name");
      }
      if (names.lastName !== undefined && names.lastName !== row.lastName) {
        row.lastName = names.lastName;
        fields.push("last_name");
      }
      if (fields.length > 0) record(note, now, row.id, null, { fields });
      return userOf(row);
    },
    async findView(id, now) {
      const row = users.get(id.toLowerCase());
      return row === undefined ? undefined : viewOf(row, now);
    },
    async search(query) {
      const { phone, phonePrefix, namePart, after } = query;
      const part = namePart?.toLowerCase();
      const listed: ListedUser[] = [];
      for (const row of users.values()) {
        if (phone !== undefined && row.phone !== phone) continue;
        if (phonePrefix !== undefined && !row.phone.startsWith(phonePrefix)) continue;
        if (part !== undefined && !row.firstName.toLowerCase().includes(part) && !row.lastName.toLowerCase().includes(part)) continue;
        const position = positionOf(row);
        if (after !== undefined && newestFirst(position, after) <= 0) continue;
        listed.push({ ...viewOf(row, query.now), position });
      }
      return listed.sort((a, b) => newestFirst(a.position, b.position)).slice(0, query.limit);
    },
    async updateFlags(id, changes, now, note) {
      const row = users.get(id.toLowerCase());
      if (row === undefined) return undefined;
      const revoked = changes.isActive === false ? endSessionsOf(row, now, "deactivated") : 0;
      if (changes.isActive !== undefined) row.isActive = changes.isActive;
      if (changes.isStaff !== undefined) row.isStaff = changes.isStaff;
      record(note, now, row.id, null);
      return { view: viewOf(row, now), at: row.sessionsRevokedBefore, revoked };
    },
  };

  const sessionRepository: SessionRepository & SessionSnapshots = {
    async register(newUser: NewUser, session, updateLastLogin, note) {
      if (userIdByPhone.has(newUser.phone)) return undefined;
      const row: UserRow = {
        ...newUser,
        isStaff: false,
        isActive: true,
        dateJoined: session.createdAt,
        lastLogin: updateLastLogin ? session.createdAt : null,
        sessionsRevokedBefore: null,
      };
      users.set(row.id, row);
      userIdByPhone.set(row.phone, row.id);
      insertSession(row, session, note);
      return userOf(row);
    },

    async login(phone, session, updateLastLogin, note) {
      const id = userIdByPhone.get(phone);
      const row = id === undefined ? undefined : users.get(id);
      if (row === undefined || !row.isActive) return undefined;
      if (updateLastLogin) row.lastLogin = session.createdAt;
      insertSession(row, session, note);
      return userOf(row);
    },

    async exchangeLegacy(token, session, updateLastLogin, note) {
      const id = userIdByLegacyId.get(token.legacyId);
      const row = id === undefined ? undefined : users.get(id);
      if (row === undefined) return { kind: "not_imported" };
      if (!row.isActive) return { kind: "inactive" };
      if (legacySpent.has(token.jti)) return { kind: "spent" };
      legacySpent.set(token.jti, { reason: "exchanged", spentAt: session.createdAt, expiresAt: token.expiresAt });
      if (updateLastLogin) row.lastLogin = session.createdAt;
      insertSession(row, session, note);
      return { kind: "started", user: userOf(row) };
    },

    async rotate({ sessionId, oldJti, newJti, now, refreshExpiresAt, client }) {
      const session = sessions.get(sessionId);
      const user = session === undefined ? undefined : users.get(session.userId);
      if (session === undefined || user === undefined) return undefined;
      if (session.currentRefreshJti !== oldJti || session.expiresAt <= now || sessionDead(session, user)) return undefined;
      session.currentRefreshJti = newJti;
      session.lastUsedAt = now;
      if (client.ip !== null) {
        session.ip = client.ip;
        session.userAgent = client.userAgent;
      }
      const old = tokens.get(oldJti);
      if (old !== undefined) {
        old.replacedBy = newJti;
        old.rotatedAt = now;
        blacklist.set(oldJti, now);
      }
      tokens.set(newJti, { jti: newJti, sessionId, userId: user.id, createdAt: now, expiresAt: refreshExpiresAt, replacedBy: null, rotatedAt: null });
      return { user: userOf(user), sessionExpiresAt: session.expiresAt };
    },

    async rotationState(jti): Promise<RotationState | undefined> {
      const token = tokens.get(jti);
      const session = token === undefined ? undefined : sessions.get(token.sessionId);
      const user = session === undefined ? undefined : users.get(session.userId);
      if (token === undefined || session === undefined || user === undefined) return undefined;
      const next = token.replacedBy === null ? undefined : tokens.get(token.replacedBy);
      return {
        sessionId: session.id,
        userId: user.id,
        replacedBy: token.replacedBy,
        rotatedAt: token.rotatedAt,
        sessionRevoked: sessionDead(session, user),
        sessionExpiresAt: session.expiresAt,
        successor:
          token.replacedBy !== null && next !== undefined
            ? { jti: token.replacedBy, createdAt: next.createdAt, expiresAt: next.expiresAt, isCurrent: session.currentRefreshJti === token.replacedBy }
            : null,
        user: userOf(user),
      };
    },

    async revoke(sessionId, reason, now, note) {
      const session = sessions.get(sessionId);
      if (session === undefined || session.revokedAt !== null) return false;
      session.revokedAt = now;
      session.revokedReason = reason;
      record(note, now, session.userId, session.id);
      return true;
    },

    async listLive(userId, now): Promise<LiveSession[]> {
      return [...sessions.values()]
        .filter(liveOfUser(userId, now))
        .sort(mostRecentlyUsedFirst)
        .map((s) => ({ id: s.id, createdAt: s.createdAt, lastUsedAt: s.lastUsedAt, expiresAt: s.expiresAt, ip: s.ip, userAgent: s.userAgent }));
    },

    async revokeOfUser(userId, sessionId, now, note) {
      const session = sessions.get(sessionId);
      if (session === undefined || !liveOfUser(userId, now)(session)) return false;
      session.revokedAt = now;
      session.revokedReason = "user";
      record(note, now, session.userId, session.id);
      return true;
    },

    async revokeOthers(userId, keep, sessionIds, now, note) {
      const live = liveOfUser(userId, now);
      let revoked = 0;
      for (const id of new Set(sessionIds)) {
        const session = sessions.get(id);
        if (id === keep || session === undefined || !live(session)) continue;
        session.revokedAt = now;
        session.revokedReason = "logout_others";
        revoked += 1;
      }
      const user = users.get(userId.toLowerCase());
      if (user !== undefined) record(note, now, user.id, keep, { revoked });
      return revoked;
    },

    async revokeAllOfUser(userId, now, note) {
      const user = users.get(userId);
      if (user === undefined) return { revoked: 0, at: now };
      const revoked = endSessionsOf(user, now, "logout_all");
      record(note, now, userId, null, { revoked });
      return { revoked, at: user.sessionsRevokedBefore ?? now };
    },

    async snapshot(sessionId): Promise<SessionSnapshot | undefined> {
      const session = sessions.get(sessionId);
      const user = session === undefined ? undefined : users.get(session.userId);
      if (session === undefined || user === undefined) return undefined;
      return {
        userId: user.id,
        createdAt: session.createdAt,
        expiresAt: session.expiresAt,
        revoked: session.revokedAt !== null,
        sessionsRevokedBefore: user.sessionsRevokedBefore,
        userActive: user.isActive,
      };
    },

    async deleteExpired(now, limit) {
      const doomed = [...sessions.values()].filter((s) => s.expiresAt <= now).sort((a, b) => a.expiresAt.getTime() - b.expiresAt.getTime()).slice(0, limit);
      const doomedIds = new Set(doomed.map((s) => s.id));
      let deletedTokens = 0;
      for (const token of [...tokens.values()]) {
        if (deletedTokens >= limit) break;
        if (doomedIds.has(token.sessionId)) {
          tokens.delete(token.jti);
          blacklist.delete(token.jti);
          deletedTokens += 1;
        }
      }
      let deletedSessions = 0;
      for (const session of doomed) {
        if ([...tokens.values()].some((t) => t.sessionId === session.id)) continue;
        sessions.delete(session.id);
        deletedSessions += 1;
      }
      return { sessions: deletedSessions, tokens: deletedTokens };
    },

    async deleteExpiredTokens(now, limit) {
      const doomed = [...tokens.values()].filter((t) => t.expiresAt <= now).sort((a, b) => a.expiresAt.getTime() - b.expiresAt.getTime()).slice(0, limit);
      for (const token of doomed) {
        tokens.delete(token.jti);
        blacklist.delete(token.jti);
      }
      return doomed.length;
    },
    async deleteExpiredLegacyTokens(now, limit) {
      const doomed = [...legacySpent.entries()].filter(([, spent]) => spent.expiresAt !== null && spent.expiresAt <= now).slice(0, limit);
      for (const [jti] of doomed) legacySpent.delete(jti);
      return doomed.length;
    },
  };

  const auditLog: AuditLog = {
    async append(event) {
      // A UUID is one value however it is written, as in PostgreSQL's uuid type.
      record(event, event.at, event.userId?.toLowerCase() ?? null, event.sessionId ?? null);
    },
    async list(query) {
      const { after } = query;
      return events
        .filter((e) => query.userId === undefined || e.userId === query.userId.toLowerCase())
        .filter((e) => query.types === undefined || query.types.length === 0 || query.types.includes(e.type))
        .filter((e) => query.since === undefined || e.at >= query.since)
        .filter((e) => after === undefined || e.at < after.at || (e.at.getTime() === after.at.getTime() && Number(e.id) < Number(after.id)))
        .sort((a, b) => b.at.getTime() - a.at.getTime() || Number(b.id) - Number(a.id))
        .slice(0, query.limit);
    },
    async deleteOlderThan(before, limit) {
      const doomed = events.filter((e) => e.at < before).sort((a, b) => a.at.getTime() - b.at.getTime()).slice(0, limit);
      for (const event of doomed) events.splice(events.indexOf(event), 1);
      return doomed.length;
    },
  };

  return {
    users: userRepository,
    sessions: sessionRepository,
    audit: auditLog,
    admin: {
      setActive(userId, active) {
        const user = users.get(userId);
        if (user !== undefined) user.isActive = active;
      },
      blacklisted: (sessionId) => [...blacklist.keys()].filter((jti) => tokens.get(jti)?.sessionId === sessionId),
      liveRefreshJti: (sessionId) => sessions.get(sessionId)?.currentRefreshJti,
      revocation(sessionId) {
        const session = sessions.get(sessionId);
        if (session === undefined) return undefined;
        return session.revokedAt === null ? null : { at: session.revokedAt, reason: session.revokedReason ?? "" };
      },
      counts: () => ({ users: users.size, sessions: sessions.size, tokens: tokens.size, blacklisted: blacklist.size }),
      sessionClient(sessionId) {
        const session = sessions.get(sessionId);
        return session === undefined ? undefined : { ip: session.ip, userAgent: session.userAgent, lastUsedAt: session.lastUsedAt };
      },
      auditEvents: () => [...events],
      setLegacyId(userId, legacyId) {
        userIdByLegacyId.set(legacyId, userId);
      },
      blacklistLegacy(jti, expiresAt) {
        if (!legacySpent.has(jti)) legacySpent.set(jti, { reason: "blacklisted", spentAt: new Date(0), expiresAt });
      },
      legacySpent: (jti) => legacySpent.get(jti),
    },
  };
}
