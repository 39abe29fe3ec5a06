/**
 * The repository ports' contract, run against every implementation: the in-memory
 * one core's unit tests use, real PostgreSQL and the embedded PGlite. PostgreSQL is
 * the truth; the in-memory implementation may not drift from it.
 *
 * One store per implementation for the whole file, fresh ids per test. Each test
 * lives in its own stretch of time, earlier than every test before it, so the
 * deletions (which act on everything expired at `now`) see only their own test's
 * rows.
 */
import { randomBytes, randomInt, randomUUID } from "node:crypto";
import { cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { AuditEvent, AuditEventType, AuditLog, AuditNote } from "../src/core/ports/audit.js";
import type { LegacyToken, NewSession, SessionRepository } from "../src/core/ports/sessions.js";
import type { ListedUser, User, UserRepository } from "../src/core/ports/users.js";
import { createAuditLog } from "../src/store/postgres/audit.js";
import { createPgliteDatabase, createPostgresDatabase, type Database, type Queryable } from "../src/store/postgres/db.js";
import { migrate } from "../src/store/postgres/migrate.js";
import { createSessionRepository, type SessionSnapshots } from "../src/store/postgres/sessions.js";
import { createUserRepository } from "../src/store/postgres/users.js";
import { createMemoryStores, type LegacySpent } from "./core/support/memory-stores.js";
import { freshPhone } from "./support/phones.js";
import { freshDatabase, realStoresAvailable } from "./support/services.js";

/** What tests do to the data that no port offers. */
interface Admin {
  setActive(userId: string, active: boolean): Promise<void>;
  /** Jtis of the blacklisted refresh tokens of a session, sorted. */
  blacklisted(sessionId: string): Promise<string[]>;
  liveRefreshJti(sessionId: string): Promise<string | undefined>;
  counts(): Promise<{ users: number; sessions: number; tokens: number; blacklisted: number }>;
  /** How many audit events there are, whoever they are about. */
  eventCount(): Promise<number>;
  /** Marks the user as imported from the Django system with that id (as import-django does). */
  setLegacyId(userId: string, legacyId: string): Promise<void>;
  /** Spends a Django jti as blacklisted there (as import-django does). */
  blacklistLegacy(jti: string, expiresAt: Date | null): Promise<void>;
  legacySpent(jti: string): Promise<LegacySpent | undefined>;
}

interface Ports {
  users: UserRepository;
  sessions: SessionRepository & SessionSnapshots;
  audit: AuditLog;
  admin: Admin;
  /** The SQL implementations' database, for what only they can be asked (microseconds, a failing statement). */
  db?: Queryable;
  close(): Promise<void>;
}

interface Implementation {
  name: string;
  /** False only for real PostgreSQL when it did not answer (CI=true fails the run then). */
  runs: boolean;
  open(): Promise<Ports>;
}

function sqlAdmin(db: Queryable): Admin {
  return {
    async setActive(userId, active) {
      await db.query("UPDATE users SET is_active = $2 WHERE id = $1", [userId, active]);
    },
    async blacklisted(sessionId) {
      const rows = await db.query<{ jti: string }>(
        "SELECT b.jti FROM blacklisted_tokens b JOIN outstanding_tokens t ON t.jti = b.jti WHERE t.session_id = $1",
        [sessionId],
      );
      return rows.map((r) => r.jti).sort();
    },
    async liveRefreshJti(sessionId) {
      const rows = await db.query<{ current_refresh_jti: string }>("SELECT current_refresh_jti FROM sessions WHERE id = $1", [sessionId]);
      return rows[0]?.current_refresh_jti;
    },
    async counts() {
      const rows = await db.query<{ users: number; sessions: number; tokens: number; blacklisted: number }>(
        `SELECT (SELECT count(*) FROM users)::int AS users, (SELECT count(*) FROM sessions)::int AS sessions,
                (SELECT count(*) FROM outstanding_tokens)::int AS tokens, (SELECT count(*) FROM blacklisted_tokens)::int AS blacklisted`,
      );
      const row = rows[0];
      if (row === undefined) throw new Error("count returned no row");
      return row;
    },
    async eventCount() {
      const rows = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM audit_events");
      return rows[0]?.n ?? 0;
    },
    async setLegacyId(userId, legacyId) {
      await db.query("UPDATE users SET legacy_id = $2 WHERE id = $1", [userId, legacyId]);
    },
    async blacklistLegacy(jti, expiresAt) {
      await db.query("INSERT INTO legacy_spent_tokens (jti, reason, spent_at, expires_at) VALUES ($1, 'blacklisted', 'epoch', $2) ON CONFLICT DO NOTHING", [jti, expiresAt]);
    },
    async legacySpent(jti) {
      const rows = await db.query<{ reason: LegacySpent["reason"]; spent_at: Date; expires_at: Date | null }>("SELECT reason, spent_at, expires_at FROM legacy_spent_tokens WHERE jti = $1", [jti]);
      const row = rows[0];
      return row === undefined ? undefined : { reason: row.reason, spentAt: row.spent_at, expiresAt: row.expires_at };
    },
  };
}

function sqlPorts(db: Database, drop: () => Promise<void>): Ports {
  return {
    users: createUserRepository(db),
    sessions: createSessionRepository(db),
    audit: createAuditLog(db),
    admin: sqlAdmin(db),
    db,
    async close() {
      await db.close();
      await drop();
    },
  };
}

const IMPLEMENTATIONS: Implementation[] = [
  {
    name: "memory",
    runs: true,
    async open() {
      const { users, sessions, audit, admin } = createMemoryStores();
      return {
        users,
        sessions,
        audit,
        admin: {
          setActive: async (userId, active) => admin.setActive(userId, active),
          blacklisted: async (sessionId) => admin.blacklisted(sessionId).sort(),
          liveRefreshJti: async (sessionId) => admin.liveRefreshJti(sessionId),
          counts: async () => admin.counts(),
          eventCount: async () => admin.auditEvents().length,
          setLegacyId: async (userId, legacyId) => admin.setLegacyId(userId, legacyId),
          blacklistLegacy: async (jti, expiresAt) => admin.blacklistLegacy(jti, expiresAt),
          legacySpent: async (jti) => admin.legacySpent(jti),
        },
        close: async () => {},
      };
    },
  },
  {
    name: "postgres",
    runs: realStoresAvailable(),
    async open() {
      const database = await freshDatabase();
      const db = await createPostgresDatabase({ url: database.url });
      await migrate(db);
      return sqlPorts(db, database.drop);
    },
  },
  {
    name: "pglite",
    runs: true,
    async open() {
      // initdb takes seconds: the global setup made a migrated template to copy.
      const dataDir = await mkdtemp(join(tmpdir(), "identity-contract-"));
      await cp(inject("pgliteTemplate"), join(dataDir, "pgdata"), { recursive: true });
      const db = await createPgliteDatabase(join(dataDir, "pgdata"));
      return sqlPorts(db, () => rm(dataDir, { recursive: true, force: true }));
    },
  },
];

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const token = (): string => randomBytes(16).toString("base64url");

/** The client every session here is opened from. */
const CLIENT = { ip: "203.0.113.9", userAgent: "contract-test/1.0" };

function must<T>(value: T | undefined): T {
  if (value === undefined) throw new Error("expected a value");
  return value;
}

/** What a profile change by its user records. */
const PROFILE_NOTE: AuditNote = { type: "user.profile_updated", client: CLIENT };

/** The fields of an event that `CLIENT` caused about a user (and session), by that user. */
const ABOUT = (userId: string, sessionId: string | null) => ({ userId, sessionId, actor: `user:${userId}`, ip: CLIENT.ip, userAgent: CLIENT.userAgent });

/** A session starting at `at` (ms) with its first refresh token. */
function newSession(at: number, lifetimes: { session?: number; refresh?: number } = {}): NewSession {
  return {
    id: token(),
    refreshJti: token(),
    createdAt: new Date(at),
    expiresAt: new Date(at + (lifetimes.session ?? DAY)),
    refreshExpiresAt: new Date(at + (lifetimes.refresh ?? HOUR)),
    client: CLIENT,
  };
}

describe.each(IMPLEMENTATIONS)("$name repositories", (implementation) => {
  describe.runIf(implementation.runs)("port contract", () => {
    let ports: Ports;
    beforeAll(async () => {
      ports = await implementation.open();
    });
    afterAll(async () => {
      await ports?.close();
    });

    // See the file comment: each test's time is its own, and earlier than the last's.
    let nextEra = Date.UTC(2001, 0, 1);
    function era(): number {
      nextEra -= 30 * DAY;
      return nextEra;
    }

    async function registered(at: number, lifetimes: { session?: number; refresh?: number } = {}): Promise<{ user: User; session: NewSession }> {
      const session = newSession(at, lifetimes);
      const user = must(await ports.sessions.register({ id: randomUUID(), phone: freshPhone().e164, firstName: "Sara", lastName: "Ahmadi" }, session, true, { type: "user.registered", client: CLIENT }));
      return { user, session };
    }

    async function loggedIn(phone: string, at: number, lifetimes: { session?: number; refresh?: number } = {}): Promise<NewSession> {
      const session = newSession(at, lifetimes);
      must(await ports.sessions.login(phone, session, false, { type: "user.logged_in", client: CLIENT }));
      return session;
    }

    /** Rotates the session's live token at `at`; returns the new jti. */
    async function rotated(sessionId: string, oldJti: string, at: number, refreshExpiresAt = at + HOUR): Promise<string> {
      const newJti = token();
      must(await ports.sessions.rotate({ sessionId, oldJti, newJti, now: new Date(at), refreshExpiresAt: new Date(refreshExpiresAt), client: CLIENT }));
      return newJti;
    }

    /** The events about a user (of `types`, if given), newest first, without their ids. */
    async function eventsOf(userId: string, types?: AuditEventType[]): Promise<Omit<AuditEvent, "id">[]> {
      return (await ports.audit.list({ userId, types, limit: 100 })).map(({ id: _id, ...event }) => event);
    }

    describe("register and login", () => {
      it("register creates the user, a first session and its first token", async () => {
        const t = era();
        const before = await ports.admin.counts();
        const id = randomUUID();
        const phone = freshPhone().e164;
        const session = newSession(t);
        const user = await ports.sessions.register({ id, phone, firstName: "Sara", lastName: "Ahmadi" }, session, true, { type: "user.registered", client: CLIENT });
        const expected: User = { id, phone, firstName: "Sara", lastName: "Ahmadi", isStaff: false, isActive: true, dateJoined: new Date(t), lastLogin: new Date(t) };
        expect(user).toEqual(expected);
        expect(await ports.users.findById(id)).toEqual(expected);
        expect(await ports.users.findByPhone(phone)).toEqual(expected);
        expect(await ports.sessions.snapshot(session.id)).toEqual({
          userId: id,
          createdAt: new Date(t),
          expiresAt: new Date(t + DAY),
          revoked: false,
          sessionsRevokedBefore: null,
          userActive: true,
        });
        expect(await ports.admin.liveRefreshJti(session.id)).toBe(session.refreshJti);
        expect(await ports.sessions.rotationState(session.refreshJti)).toEqual({
          sessionId: session.id,
          userId: id,
          replacedBy: null,
          rotatedAt: null,
          sessionRevoked: false,
          sessionExpiresAt: new Date(t + DAY),
          successor: null,
          user: expected,
        });
        expect(await ports.admin.counts()).toEqual({ ...before, users: before.users + 1, sessions: before.sessions + 1, tokens: before.tokens + 1 });
      });

      it("register without updating last login leaves it null and still dates the joining", async () => {
        const t = era();
        const user = await ports.sessions.register({ id: randomUUID(), phone: freshPhone().e164, firstName: "", lastName: "" }, newSession(t), false, { type: "user.registered", client: CLIENT });
        expect(user).toMatchObject({ firstName: "", lastName: "", dateJoined: new Date(t), lastLogin: null });
      });

      it("register of a taken phone returns undefined and creates nothing", async () => {
        const t = era();
        const { user } = await registered(t);
        const before = await ports.admin.counts();
        const session = newSession(t + MINUTE);
        const again = await ports.sessions.register({ id: randomUUID(), phone: user.phone, firstName: "Other", lastName: "Person" }, session, true, { type: "user.registered", client: CLIENT });
        expect(again).toBeUndefined();
        expect(await ports.admin.counts()).toEqual(before);
        expect(await ports.users.findByPhone(user.phone)).toEqual(user);
        expect(await ports.sessions.snapshot(session.id)).toBeUndefined();
        expect(await ports.sessions.rotationState(session.refreshJti)).toBeUndefined();
      });

      it("login starts a session for an active user and moves last login only when asked", async () => {
        const t = era();
        const { user } = await registered(t);
        const before = await ports.admin.counts();

        const quiet = newSession(t + MINUTE);
        expect(await ports.sessions.login(user.phone, quiet, false, { type: "user.logged_in", client: CLIENT })).toEqual(user);
        expect(await ports.sessions.snapshot(quiet.id)).toMatchObject({ userId: user.id, createdAt: new Date(t + MINUTE), revoked: false });
        expect(await ports.admin.liveRefreshJti(quiet.id)).toBe(quiet.refreshJti);

        const counted = newSession(t + 2 * MINUTE);
        const expected = { ...user, lastLogin: new Date(t + 2 * MINUTE) };
        expect(await ports.sessions.login(user.phone, counted, true, { type: "user.logged_in", client: CLIENT })).toEqual(expected);
        expect(await ports.users.findById(user.id)).toEqual(expected);
        expect(await ports.admin.counts()).toEqual({ ...before, sessions: before.sessions + 2, tokens: before.tokens + 2 });
      });

      it("login refuses an inactive user and an unknown phone, creating nothing", async () => {
        const t = era();
        const { user } = await registered(t);
        await ports.admin.setActive(user.id, false);
        const before = await ports.admin.counts();
        const session = newSession(t + MINUTE);
        expect(await ports.sessions.login(user.phone, session, true, { type: "user.logged_in", client: CLIENT })).toBeUndefined();
        expect(await ports.sessions.login(freshPhone().e164, newSession(t + MINUTE), true, { type: "user.logged_in", client: CLIENT })).toBeUndefined();
        expect(await ports.admin.counts()).toEqual(before);
        expect(await ports.sessions.snapshot(session.id)).toBeUndefined();
        expect(await ports.users.findById(user.id)).toEqual({ ...user, isActive: false });
      });

      it("a session starts after the user's logout-all instant, even by a clock at or before it", async () => {
        const t = era();
        const { user } = await registered(t);
        expect((await ports.sessions.revokeAllOfUser(user.id, new Date(t + MINUTE), { type: "session.logged_out_all", client: CLIENT })).at).toEqual(new Date(t + MINUTE));

        const sameClock = await loggedIn(user.phone, t + MINUTE);
        const clockBehind = await loggedIn(user.phone, t + 30 * SECOND);
        const clockAfter = await loggedIn(user.phone, t + 2 * MINUTE);
        expect((await ports.sessions.snapshot(sameClock.id))?.createdAt).toEqual(new Date(t + MINUTE + 1));
        expect((await ports.sessions.snapshot(clockBehind.id))?.createdAt).toEqual(new Date(t + MINUTE + 1));
        expect((await ports.sessions.snapshot(clockAfter.id))?.createdAt).toEqual(new Date(t + 2 * MINUTE));
        // Live: each can rotate.
        for (const session of [sameClock, clockBehind, clockAfter]) {
          expect((await ports.sessions.rotationState(session.refreshJti))?.sessionRevoked).toBe(false);
          await rotated(session.id, session.refreshJti, t + 3 * MINUTE);
        }
      });
    });

    describe("rotate", () => {
      it("swaps the live token: the successor is live, the old one blacklisted and linked to it", async () => {
        const t = era();
        const { user, session } = await registered(t);
        const before = await ports.admin.counts();
        const newJti = token();
        const result = await ports.sessions.rotate({
          sessionId: session.id,
          oldJti: session.refreshJti,
          newJti,
          now: new Date(t + MINUTE),
          refreshExpiresAt: new Date(t + 2 * HOUR),
          client: CLIENT,
        });
        expect(result).toEqual({ user, sessionExpiresAt: new Date(t + DAY) });
        expect(await ports.admin.liveRefreshJti(session.id)).toBe(newJti);
        expect(await ports.admin.blacklisted(session.id)).toEqual([session.refreshJti]);
        expect(await ports.admin.counts()).toEqual({ ...before, tokens: before.tokens + 1, blacklisted: before.blacklisted + 1 });
        expect(await ports.sessions.rotationState(session.refreshJti)).toEqual({
          sessionId: session.id,
          userId: user.id,
          replacedBy: newJti,
          rotatedAt: new Date(t + MINUTE),
          sessionRevoked: false,
          sessionExpiresAt: new Date(t + DAY),
          successor: { jti: newJti, createdAt: new Date(t + MINUTE), expiresAt: new Date(t + 2 * HOUR), isCurrent: true },
          user,
        });
        expect(await ports.sessions.rotationState(newJti)).toMatchObject({ sessionId: session.id, replacedBy: null, rotatedAt: null, successor: null });
      });

      it("refuses a stale or unknown jti and an unknown session, changing nothing", async () => {
        const t = era();
        const { session } = await registered(t);
        const live = await rotated(session.id, session.refreshJti, t + MINUTE);
        const before = await ports.admin.counts();
        const attempts = [
          { sessionId: session.id, oldJti: session.refreshJti },
          { sessionId: session.id, oldJti: token() },
          { sessionId: token(), oldJti: live },
        ];
        for (const attempt of attempts) {
          const newJti = token();
          expect(await ports.sessions.rotate({ ...attempt, newJti, now: new Date(t + 2 * MINUTE), refreshExpiresAt: new Date(t + HOUR), client: CLIENT })).toBeUndefined();
          expect(await ports.sessions.rotationState(newJti)).toBeUndefined();
        }
        expect(await ports.admin.liveRefreshJti(session.id)).toBe(live);
        expect(await ports.admin.blacklisted(session.id)).toEqual([session.refreshJti]);
        expect(await ports.admin.counts()).toEqual(before);
        expect((await ports.sessions.rotationState(session.refreshJti))?.rotatedAt).toEqual(new Date(t + MINUTE));
      });

      it("refuses an expired session (expiresAt <= now) and accepts it a millisecond before", async () => {
        const t = era();
        const { session } = await registered(t, { session: HOUR });
        const attempt = (now: number) =>
          ports.sessions.rotate({ sessionId: session.id, oldJti: session.refreshJti, newJti: token(), now: new Date(now), refreshExpiresAt: new Date(now + HOUR), client: CLIENT });
        expect(await attempt(t + HOUR)).toBeUndefined();
        expect(await attempt(t + 2 * HOUR)).toBeUndefined();
        expect(await ports.admin.liveRefreshJti(session.id)).toBe(session.refreshJti);
        expect(await attempt(t + HOUR - 1)).toMatchObject({ sessionExpiresAt: new Date(t + HOUR) });
      });

      it("refuses a revoked session", async () => {
        const t = era();
        const { session } = await registered(t);
        await ports.sessions.revoke(session.id, "logout", new Date(t + MINUTE), { type: "session.logged_out", client: CLIENT });
        expect(
          await ports.sessions.rotate({ sessionId: session.id, oldJti: session.refreshJti, newJti: token(), now: new Date(t + 2 * MINUTE), refreshExpiresAt: new Date(t + HOUR), client: CLIENT }),
        ).toBeUndefined();
        expect(await ports.admin.liveRefreshJti(session.id)).toBe(session.refreshJti);
        expect(await ports.admin.blacklisted(session.id)).toEqual([]);
      });

      it("refuses while the user is inactive, and rotates again once reactivated", async () => {
        const t = era();
        const { user, session } = await registered(t);
        await ports.admin.setActive(user.id, false);
        const attempt = () =>
          ports.sessions.rotate({ sessionId: session.id, oldJti: session.refreshJti, newJti: token(), now: new Date(t + MINUTE), refreshExpiresAt: new Date(t + HOUR), client: CLIENT });
        expect(await attempt()).toBeUndefined();
        expect(await ports.admin.liveRefreshJti(session.id)).toBe(session.refreshJti);
        await ports.admin.setActive(user.id, true);
        expect(await attempt()).toMatchObject({ user: { isActive: true } });
      });

      it("refuses a session started at or before logout-all, even one logout-all left unrevoked", async () => {
        const t = era();
        const { user, session } = await registered(t, { session: HOUR });
        // At t + 1 h the session has expired, so logout-all does not revoke it; its
        // instant still covers it, for an instance whose clock reads earlier.
        expect(await ports.sessions.revokeAllOfUser(user.id, new Date(t + HOUR), { type: "session.logged_out_all", client: CLIENT })).toEqual({ revoked: 0, at: new Date(t + HOUR) });
        expect(await ports.sessions.snapshot(session.id)).toMatchObject({ revoked: false, sessionsRevokedBefore: new Date(t + HOUR) });
        expect(
          await ports.sessions.rotate({ sessionId: session.id, oldJti: session.refreshJti, newJti: token(), now: new Date(t + MINUTE), refreshExpiresAt: new Date(t + HOUR), client: CLIENT }),
        ).toBeUndefined();
        expect((await ports.sessions.rotationState(session.refreshJti))?.sessionRevoked).toBe(true);
        // Already covered by the instant: a later logout-all by that clock counts it no more.
        expect(await ports.sessions.revokeAllOfUser(user.id, new Date(t + MINUTE), { type: "session.logged_out_all", client: CLIENT })).toEqual({ revoked: 0, at: new Date(t + HOUR) });
        expect((await ports.sessions.snapshot(session.id))?.revoked).toBe(false);
      });

      it("lets exactly one of several parallel rotations of one jti win", async () => {
        const t = era();
        const { session } = await registered(t);
        const candidates = Array.from({ length: 8 }, () => token());
        const results = await Promise.all(
          candidates.map((newJti) =>
            ports.sessions.rotate({ sessionId: session.id, oldJti: session.refreshJti, newJti, now: new Date(t + MINUTE), refreshExpiresAt: new Date(t + HOUR), client: CLIENT }),
          ),
        );
        expect(results.filter((r) => r !== undefined)).toHaveLength(1);
        const winner = must(candidates[results.findIndex((r) => r !== undefined)]);
        expect(await ports.admin.liveRefreshJti(session.id)).toBe(winner);
        expect(await ports.admin.blacklisted(session.id)).toEqual([session.refreshJti]);
        expect((await ports.sessions.rotationState(session.refreshJti))?.replacedBy).toBe(winner);
        for (const loser of candidates.filter((jti) => jti !== winner)) expect(await ports.sessions.rotationState(loser)).toBeUndefined();
      });
    });

    describe("exchangeLegacy", () => {
      const EXCHANGED: AuditNote = { type: "legacy.token_exchanged", client: CLIENT, details: { legacy_id: "x" } };

      /** A user imported from Django under a fresh legacy id, and a token of theirs. */
      async function importedWithToken(t: number): Promise<{ user: User; legacy: LegacyToken }> {
        const { user } = await registered(t);
        const legacyId = String(randomInt(1, 2 ** 47));
        await ports.admin.setLegacyId(user.id, legacyId);
        return { user, legacy: { legacyId, jti: token(), expiresAt: new Date(t + DAY) } };
      }

      it("spends the jti with the token's exp, starts a session for the active imported user, moves last login when asked, and records the note about it", async () => {
        const t = era();
        const { user, legacy } = await importedWithToken(t);
        const before = await ports.admin.counts();
        const events = await ports.admin.eventCount();
        const session = newSession(t + MINUTE);

        const expected = { ...user, lastLogin: new Date(t + MINUTE) };
        expect(await ports.sessions.exchangeLegacy(legacy, session, true, EXCHANGED)).toEqual({ kind: "started", user: expected });
        expect(await ports.users.findById(user.id)).toEqual(expected);
        expect(await ports.admin.legacySpent(legacy.jti)).toEqual({ reason: "exchanged", spentAt: new Date(t + MINUTE), expiresAt: new Date(t + DAY) });
        expect(await ports.sessions.snapshot(session.id)).toMatchObject({ userId: user.id, createdAt: new Date(t + MINUTE), revoked: false });
        expect(await ports.admin.liveRefreshJti(session.id)).toBe(session.refreshJti);
        expect(await ports.admin.counts()).toEqual({ ...before, sessions: before.sessions + 1, tokens: before.tokens + 1 });
        expect(await eventsOf(user.id, ["legacy.token_exchanged"])).toEqual([{ ...ABOUT(user.id, session.id), at: new Date(t + MINUTE), type: "legacy.token_exchanged", details: { legacy_id: "x" } }]);
        expect(await ports.admin.eventCount()).toBe(events + 1);

        const { user: quiet, legacy: quietToken } = await importedWithToken(t);
        expect(await ports.sessions.exchangeLegacy(quietToken, newSession(t + MINUTE), false, EXCHANGED)).toEqual({ kind: "started", user: quiet });
      });

      it("of a jti exchanged already or blacklisted there: spent, starting and recording nothing", async () => {
        const t = era();
        const { legacy } = await importedWithToken(t);
        await ports.sessions.exchangeLegacy(legacy, newSession(t + MINUTE), true, EXCHANGED);
        const blacklisted = { ...legacy, jti: token() };
        await ports.admin.blacklistLegacy(blacklisted.jti, null);
        const before = { rows: await ports.admin.counts(), events: await ports.admin.eventCount() };

        for (const spent of [legacy, blacklisted]) {
          const session = newSession(t + 2 * MINUTE);
          expect(await ports.sessions.exchangeLegacy(spent, session, true, EXCHANGED)).toEqual({ kind: "spent" });
          expect(await ports.sessions.snapshot(session.id)).toBeUndefined();
        }
        expect({ rows: await ports.admin.counts(), events: await ports.admin.eventCount() }).toEqual(before);
        expect((await ports.admin.legacySpent(blacklisted.jti))?.reason).toBe("blacklisted");
      });

      it("refuses a legacy id no user has (not_imported) and an inactive user (inactive), spending and recording nothing", async () => {
        const t = era();
        const { user, legacy } = await importedWithToken(t);
        await ports.admin.setActive(user.id, false);
        const before = { rows: await ports.admin.counts(), events: await ports.admin.eventCount() };
        expect(await ports.sessions.exchangeLegacy(legacy, newSession(t + MINUTE), true, EXCHANGED)).toEqual({ kind: "inactive" });
        const stranger = { legacyId: String(2 ** 50 + randomInt(1, 2 ** 40)), jti: token(), expiresAt: new Date(t + DAY) };
        expect(await ports.sessions.exchangeLegacy(stranger, newSession(t + MINUTE), true, EXCHANGED)).toEqual({ kind: "not_imported" });
        expect({ rows: await ports.admin.counts(), events: await ports.admin.eventCount() }).toEqual(before);
        expect(await ports.admin.legacySpent(legacy.jti)).toBeUndefined();
        expect(await ports.admin.legacySpent(stranger.jti)).toBeUndefined();
        expect(await ports.users.findById(user.id)).toEqual({ ...user, isActive: false });
      });

      it("lets exactly one of several parallel exchanges of one jti start a session", async () => {
        const t = era();
        const { legacy } = await importedWithToken(t);
        const sessions = Array.from({ length: 8 }, () => newSession(t + MINUTE));
        const results = await Promise.all(sessions.map((session) => ports.sessions.exchangeLegacy(legacy, session, true, EXCHANGED)));
        expect(results.filter((r) => r.kind === "started")).toHaveLength(1);
        expect(results.filter((r) => r.kind === "spent")).toHaveLength(7);
        const started = (await Promise.all(sessions.map((s) => ports.sessions.snapshot(s.id)))).filter((s) => s !== undefined);
        expect(started).toHaveLength(1);
      });

      it("starts the session after the user's logout-all instant, as login does", async () => {
        const t = era();
        const { user, legacy } = await importedWithToken(t);
        await ports.sessions.revokeAllOfUser(user.id, new Date(t + MINUTE), { type: "session.logged_out_all", client: CLIENT });
        const session = newSession(t + 30 * SECOND);
        await ports.sessions.exchangeLegacy(legacy, session, false, EXCHANGED);
        expect(await ports.sessions.snapshot(session.id)).toMatchObject({ createdAt: new Date(t + MINUTE + 1), revoked: false });
      });
    });

    describe("rotationState", () => {
      it("follows a token's successor: current after one rotation, no longer after the next", async () => {
        const t = era();
        const { session } = await registered(t);
        const second = await rotated(session.id, session.refreshJti, t + MINUTE, t + 2 * HOUR);
        const third = await rotated(session.id, second, t + 2 * MINUTE, t + 3 * HOUR);
        expect(await ports.sessions.rotationState(session.refreshJti)).toMatchObject({
          replacedBy: second,
          rotatedAt: new Date(t + MINUTE),
          successor: { jti: second, createdAt: new Date(t + MINUTE), expiresAt: new Date(t + 2 * HOUR), isCurrent: false },
        });
        expect(await ports.sessions.rotationState(second)).toMatchObject({
          replacedBy: third,
          rotatedAt: new Date(t + 2 * MINUTE),
          successor: { jti: third, createdAt: new Date(t + 2 * MINUTE), expiresAt: new Date(t + 3 * HOUR), isCurrent: true },
        });
        expect(await ports.admin.blacklisted(session.id)).toEqual([session.refreshJti, second].sort());
      });

      it("says the session is revoked for each dead cause, not for expiry, and nothing of an unknown jti", async () => {
        const t = era();
        const revokedOf = async (jti: string) => must(await ports.sessions.rotationState(jti)).sessionRevoked;

        const expired = await registered(t, { session: MINUTE });
        expect(await revokedOf(expired.session.refreshJti)).toBe(false);

        const loggedOut = await registered(t);
        await ports.sessions.revoke(loggedOut.session.id, "logout", new Date(t + MINUTE), { type: "session.logged_out", client: CLIENT });
        expect(await revokedOf(loggedOut.session.refreshJti)).toBe(true);

        const inactive = await registered(t);
        await ports.admin.setActive(inactive.user.id, false);
        expect(await revokedOf(inactive.session.refreshJti)).toBe(true);
        expect((await ports.sessions.rotationState(inactive.session.refreshJti))?.user.isActive).toBe(false);

        const allOut = await registered(t);
        await ports.sessions.revokeAllOfUser(allOut.user.id, new Date(t + MINUTE), { type: "session.logged_out_all", client: CLIENT });
        expect(await revokedOf(allOut.session.refreshJti)).toBe(true);

        expect(await ports.sessions.rotationState(token())).toBeUndefined();
      });
    });

    describe("revoke", () => {
      it("is true once for a live session, then false; false for an unknown session", async () => {
        const t = era();
        const { session } = await registered(t);
        expect(await ports.sessions.revoke(session.id, "logout", new Date(t + MINUTE), { type: "session.logged_out", client: CLIENT })).toBe(true);
        expect(await ports.sessions.revoke(session.id, "logout", new Date(t + 2 * MINUTE), { type: "session.logged_out", client: CLIENT })).toBe(false);
        expect(await ports.sessions.revoke(token(), "logout", new Date(t + 2 * MINUTE), { type: "session.logged_out", client: CLIENT })).toBe(false);
        expect((await ports.sessions.snapshot(session.id))?.revoked).toBe(true);
      });
    });

    describe("listLive", () => {
      /** Another client, so a test can tell which one a session recorded. */
      const PHONE_APP = { ip: "198.51.100.23", userAgent: "identity-app/2.0 (Android 14)" };

      /** A login at `at` from `client`. */
      async function loggedInFrom(phone: string, at: number, client: typeof CLIENT): Promise<NewSession> {
        const session = { ...newSession(at), client };
        must(await ports.sessions.login(phone, session, false, { type: "user.logged_in", client }));
        return session;
      }

      it("lists the user's live sessions, most recently used first, each with the client of its last login or refresh", async () => {
        const t = era();
        const { user, session: first } = await registered(t, { session: 2 * DAY });
        const second = await loggedInFrom(user.phone, t + MINUTE, PHONE_APP);
        const third = await loggedIn(user.phone, t + 2 * MINUTE);
        await ports.sessions.rotate({ sessionId: first.id, oldJti: first.refreshJti, newJti: token(), now: new Date(t + 3 * MINUTE), refreshExpiresAt: new Date(t + HOUR), client: PHONE_APP });

        expect(await ports.sessions.listLive(user.id, new Date(t + 4 * MINUTE))).toEqual([
          { id: first.id, createdAt: new Date(t), lastUsedAt: new Date(t + 3 * MINUTE), expiresAt: new Date(t + 2 * DAY), ip: PHONE_APP.ip, userAgent: PHONE_APP.userAgent },
          { id: third.id, createdAt: new Date(t + 2 * MINUTE), lastUsedAt: new Date(t + 2 * MINUTE), expiresAt: new Date(t + 2 * MINUTE + DAY), ip: CLIENT.ip, userAgent: CLIENT.userAgent },
          { id: second.id, createdAt: new Date(t + MINUTE), lastUsedAt: new Date(t + MINUTE), expiresAt: new Date(t + MINUTE + DAY), ip: PHONE_APP.ip, userAgent: PHONE_APP.userAgent },
        ]);
      });

      it("orders sessions last used in the same instant by the newer start", async () => {
        const t = era();
        const { user, session: older } = await registered(t);
        const newer = await loggedIn(user.phone, t + MINUTE);
        await rotated(older.id, older.refreshJti, t + 2 * MINUTE);
        await rotated(newer.id, newer.refreshJti, t + 2 * MINUTE);
        expect((await ports.sessions.listLive(user.id, new Date(t + 3 * MINUTE))).map((s) => s.id)).toEqual([newer.id, older.id]);
      });

      it("records at login the client and last use at the session's start, also when the start moved past a logout-all", async () => {
        const t = era();
        const { user } = await registered(t);
        await ports.sessions.revokeAllOfUser(user.id, new Date(t + MINUTE), { type: "session.logged_out_all", client: CLIENT });
        // A clock behind the logout-all: the session starts just after it, and was last used then.
        const behind = await loggedInFrom(user.phone, t + 30 * SECOND, PHONE_APP);
        expect(await ports.sessions.listLive(user.id, new Date(t + 2 * MINUTE))).toEqual([
          { id: behind.id, createdAt: new Date(t + MINUTE + 1), lastUsedAt: new Date(t + MINUTE + 1), expiresAt: behind.expiresAt, ip: PHONE_APP.ip, userAgent: PHONE_APP.userAgent },
        ]);
      });

      it("records a refresh's client and instant; a refresh with no IP (no request behind it) moves only the instant", async () => {
        const t = era();
        const { user, session } = await registered(t);
        const second = token();
        must(await ports.sessions.rotate({ sessionId: session.id, oldJti: session.refreshJti, newJti: second, now: new Date(t + MINUTE), refreshExpiresAt: new Date(t + HOUR), client: PHONE_APP }));
        expect(await ports.sessions.listLive(user.id, new Date(t + MINUTE))).toMatchObject([{ lastUsedAt: new Date(t + MINUTE), ip: PHONE_APP.ip, userAgent: PHONE_APP.userAgent }]);

        must(await ports.sessions.rotate({ sessionId: session.id, oldJti: second, newJti: token(), now: new Date(t + 2 * MINUTE), refreshExpiresAt: new Date(t + HOUR), client: { ip: null, userAgent: null } }));
        expect(await ports.sessions.listLive(user.id, new Date(t + 2 * MINUTE))).toMatchObject([{ lastUsedAt: new Date(t + 2 * MINUTE), ip: PHONE_APP.ip, userAgent: PHONE_APP.userAgent }]);
      });

      it("records a refresh's missing User-Agent as none (the IP says a request was behind it)", async () => {
        const t = era();
        const { user, session } = await registered(t);
        await ports.sessions.rotate({ sessionId: session.id, oldJti: session.refreshJti, newJti: token(), now: new Date(t + MINUTE), refreshExpiresAt: new Date(t + HOUR), client: { ip: "192.0.2.1", userAgent: null } });
        expect(await ports.sessions.listLive(user.id, new Date(t + MINUTE))).toMatchObject([{ ip: "192.0.2.1", userAgent: null }]);
      });

      it("leaves the session as it was when a token of it is checked (an access-token use) or a rotation fails", async () => {
        const t = era();
        const { user, session } = await registered(t);
        const before = await ports.sessions.listLive(user.id, new Date(t + MINUTE));
        await ports.sessions.snapshot(session.id);
        await ports.sessions.rotationState(session.refreshJti);
        expect(await ports.sessions.rotate({ sessionId: session.id, oldJti: token(), newJti: token(), now: new Date(t + MINUTE), refreshExpiresAt: new Date(t + HOUR), client: PHONE_APP })).toBeUndefined();
        expect(await ports.sessions.listLive(user.id, new Date(t + MINUTE))).toEqual(before);
      });

      it("leaves out revoked, expired and logged-out-all sessions, and other users' ones", async () => {
        const t = era();
        const { user, session: registeredFirst } = await registered(t);
        const coveredByLogoutAll = await loggedIn(user.phone, t + MINUTE);
        await ports.sessions.revokeAllOfUser(user.id, new Date(t + MINUTE), { type: "session.logged_out_all", client: CLIENT });
        const expiring = await loggedIn(user.phone, t + 2 * MINUTE, { session: HOUR });
        const live = await loggedIn(user.phone, t + 3 * MINUTE);
        const revoked = await loggedIn(user.phone, t + 4 * MINUTE);
        await ports.sessions.revoke(revoked.id, "logout", new Date(t + 5 * MINUTE), { type: "session.logged_out", client: CLIENT });
        const stranger = await registered(t + 5 * MINUTE);

        const ids = async (at: number) => (await ports.sessions.listLive(user.id, new Date(at))).map((s) => s.id);
        expect(await ids(t + 10 * MINUTE)).toEqual([live.id, expiring.id]);
        // Expiry is at the instant itself, as everywhere.
        expect(await ids(t + 2 * MINUTE + HOUR)).toEqual([live.id]);
        for (const covered of [registeredFirst, coveredByLogoutAll]) expect(await ids(t + 10 * MINUTE)).not.toContain(covered.id);
        expect((await ports.sessions.listLive(stranger.user.id, new Date(t + 10 * MINUTE))).map((s) => s.id)).toEqual([stranger.session.id]);
      });

      it("lists nothing for an inactive user or an unknown one", async () => {
        const t = era();
        const { user } = await registered(t);
        await ports.admin.setActive(user.id, false);
        expect(await ports.sessions.listLive(user.id, new Date(t + MINUTE))).toEqual([]);
        await ports.admin.setActive(user.id, true);
        expect(await ports.sessions.listLive(user.id, new Date(t + MINUTE))).toHaveLength(1);
        expect(await ports.sessions.listLive(randomUUID(), new Date(t + MINUTE))).toEqual([]);
      });
    });

    describe("revokeOfUser", () => {
      it("ends a live session of that user once, recording the note about it", async () => {
        const t = era();
        const { user, session } = await registered(t);
        const other = await loggedIn(user.phone, t + MINUTE);
        const note = { type: "session.revoked", client: CLIENT } as const;
        expect(await ports.sessions.revokeOfUser(user.id, session.id, new Date(t + 2 * MINUTE), note)).toBe(true);
        expect(await ports.sessions.revokeOfUser(user.id, session.id, new Date(t + 3 * MINUTE), note)).toBe(false);
        expect(await ports.sessions.snapshot(session.id)).toMatchObject({ revoked: true });
        expect((await ports.sessions.listLive(user.id, new Date(t + 3 * MINUTE))).map((s) => s.id)).toEqual([other.id]);
        expect(await ports.audit.list({ userId: user.id, types: ["session.revoked"], limit: 10 })).toEqual([
          {
            id: expect.any(String),
            at: new Date(t + 2 * MINUTE),
            type: "session.revoked",
            userId: user.id,
            sessionId: session.id,
            actor: `user:${user.id}`,
            ip: CLIENT.ip,
            userAgent: CLIENT.userAgent,
            details: {},
          },
        ]);
      });

      it("is false, changing and recording nothing, for another user's session, an unknown id, and an expired or logged-out-all session", async () => {
        const t = era();
        const { user } = await registered(t);
        const stranger = await registered(t);
        const expired = await loggedIn(user.phone, t, { session: MINUTE });
        const covered = await loggedIn(user.phone, t + MINUTE);
        await ports.sessions.revokeAllOfUser(user.id, new Date(t + MINUTE), { type: "session.logged_out_all", client: CLIENT });
        const note = { type: "session.revoked", client: CLIENT } as const;
        const now = new Date(t + 2 * MINUTE);

        expect(await ports.sessions.revokeOfUser(user.id, stranger.session.id, now, note)).toBe(false);
        expect(await ports.sessions.revokeOfUser(user.id, token(), now, note)).toBe(false);
        expect(await ports.sessions.revokeOfUser(user.id, expired.id, now, note)).toBe(false);
        expect(await ports.sessions.revokeOfUser(user.id, covered.id, now, note)).toBe(false);
        expect(await ports.sessions.snapshot(stranger.session.id)).toMatchObject({ revoked: false });
        expect(await ports.sessions.snapshot(expired.id)).toMatchObject({ revoked: false });
        expect(await ports.sessions.listLive(stranger.user.id, now)).toHaveLength(1);
        for (const id of [user.id, stranger.user.id]) expect(await ports.audit.list({ userId: id, types: ["session.revoked"], limit: 10 })).toEqual([]);
      });
    });

    describe("revokeOthers", () => {
      const note = { type: "session.logged_out_others", client: CLIENT } as const;

      it("ends the given live sessions of the user but the one kept, and records one event about the user and the kept session", async () => {
        const t = era();
        const { user, session: current } = await registered(t);
        const second = await loggedIn(user.phone, t + MINUTE);
        const third = await loggedIn(user.phone, t + 2 * MINUTE);
        const now = new Date(t + 3 * MINUTE);
        expect(await ports.sessions.revokeOthers(user.id, current.id, [current.id, second.id, third.id], now, note)).toBe(2);
        expect((await ports.sessions.listLive(user.id, now)).map((s) => s.id)).toEqual([current.id]);
        for (const s of [second, third]) expect(await ports.sessions.snapshot(s.id)).toMatchObject({ revoked: true });
        expect(await ports.audit.list({ userId: user.id, types: ["session.logged_out_others"], limit: 10 })).toEqual([
          {
            id: expect.any(String),
            at: now,
            type: "session.logged_out_others",
            userId: user.id,
            sessionId: current.id,
            actor: `user:${user.id}`,
            ip: CLIENT.ip,
            userAgent: CLIENT.userAgent,
            details: { revoked: 2 },
          },
        ]);
      });

      it("ends only the sessions given, never another user's or an ended one, and records the event with the count even when it is 0", async () => {
        const t = era();
        const { user, session: current } = await registered(t);
        const given = await loggedIn(user.phone, t + MINUTE);
        const notGiven = await loggedIn(user.phone, t + 2 * MINUTE);
        const ended = await loggedIn(user.phone, t + 2 * MINUTE);
        await ports.sessions.revoke(ended.id, "logout", new Date(t + 2 * MINUTE), { type: "session.logged_out", client: CLIENT });
        const stranger = await registered(t);
        const now = new Date(t + 3 * MINUTE);

        expect(await ports.sessions.revokeOthers(user.id, current.id, [given.id, ended.id, stranger.session.id, token(), given.id], now, note)).toBe(1);
        expect((await ports.sessions.listLive(user.id, now)).map((s) => s.id)).toEqual([notGiven.id, current.id]);
        expect(await ports.sessions.listLive(stranger.user.id, now)).toHaveLength(1);
        expect(await ports.sessions.revokeOthers(user.id, current.id, [given.id], now, note)).toBe(0);
        expect(await ports.sessions.revokeOthers(user.id, current.id, [], now, note)).toBe(0);
        const events = await ports.audit.list({ userId: user.id, types: ["session.logged_out_others"], limit: 10 });
        expect(events.map((e) => e.details)).toEqual([{ revoked: 0 }, { revoked: 0 }, { revoked: 1 }]);
        expect(await ports.audit.list({ userId: stranger.user.id, limit: 10 })).toHaveLength(1); // its registration only
      });

      it("records nothing for an unknown user", async () => {
        const t = era();
        const nobody = randomUUID();
        expect(await ports.sessions.revokeOthers(nobody, token(), [token()], new Date(t), note)).toBe(0);
        expect(await ports.audit.list({ userId: nobody, limit: 10 })).toEqual([]);
      });
    });

    describe("revokeAllOfUser", () => {
      it("counts the live unexpired sessions, not revoked or expired ones, and records now", async () => {
        const t = era();
        const { user, session: first } = await registered(t);
        const second = await loggedIn(user.phone, t + MINUTE);
        const revoked = await loggedIn(user.phone, t + 2 * MINUTE);
        const expired = await loggedIn(user.phone, t + 3 * MINUTE, { session: MINUTE });
        await ports.sessions.revoke(revoked.id, "logout", new Date(t + 3 * MINUTE), { type: "session.logged_out", client: CLIENT });

        const now = t + 10 * MINUTE;
        expect(await ports.sessions.revokeAllOfUser(user.id, new Date(now), { type: "session.logged_out_all", client: CLIENT })).toEqual({ revoked: 2, at: new Date(now) });
        for (const session of [first, second, revoked]) expect((await ports.sessions.snapshot(session.id))?.revoked).toBe(true);
        // Left as it was, and dead by the instant.
        expect(await ports.sessions.snapshot(expired.id)).toMatchObject({ revoked: false, sessionsRevokedBefore: new Date(now) });
      });

      it("moves the instant to the newest live session started by a clock ahead, ignoring revoked ones", async () => {
        const t = era();
        const { user } = await registered(t);
        const ahead = await loggedIn(user.phone, t + 5 * SECOND);
        const furtherRevoked = await loggedIn(user.phone, t + 9 * SECOND);
        await ports.sessions.revoke(furtherRevoked.id, "logout", new Date(t + 9 * SECOND), { type: "session.logged_out", client: CLIENT });
        expect(await ports.sessions.revokeAllOfUser(user.id, new Date(t + SECOND), { type: "session.logged_out_all", client: CLIENT })).toEqual({ revoked: 2, at: new Date(t + 5 * SECOND) });
        expect(await ports.sessions.snapshot(ahead.id)).toMatchObject({ revoked: true, sessionsRevokedBefore: new Date(t + 5 * SECOND) });
      });

      it("counts nothing the second time and never moves the instant back", async () => {
        const t = era();
        const { user } = await registered(t);
        expect(await ports.sessions.revokeAllOfUser(user.id, new Date(t + HOUR), { type: "session.logged_out_all", client: CLIENT })).toEqual({ revoked: 1, at: new Date(t + HOUR) });
        expect(await ports.sessions.revokeAllOfUser(user.id, new Date(t + MINUTE), { type: "session.logged_out_all", client: CLIENT })).toEqual({ revoked: 0, at: new Date(t + HOUR) });
        expect(await ports.sessions.revokeAllOfUser(user.id, new Date(t + HOUR), { type: "session.logged_out_all", client: CLIENT })).toEqual({ revoked: 0, at: new Date(t + HOUR) });
        expect(await ports.sessions.revokeAllOfUser(user.id, new Date(t + 2 * HOUR), { type: "session.logged_out_all", client: CLIENT })).toEqual({ revoked: 0, at: new Date(t + 2 * HOUR) });
        // A session started after it is counted by the next one.
        await loggedIn(user.phone, t + 2 * HOUR);
        expect(await ports.sessions.revokeAllOfUser(user.id, new Date(t + 2 * HOUR), { type: "session.logged_out_all", client: CLIENT })).toEqual({ revoked: 1, at: new Date(t + 2 * HOUR + 1) });
      });

      it("for an unknown user counts nothing and records now", async () => {
        const t = era();
        expect(await ports.sessions.revokeAllOfUser(randomUUID(), new Date(t), { type: "session.logged_out_all", client: CLIENT })).toEqual({ revoked: 0, at: new Date(t) });
      });
    });

    describe("snapshot", () => {
      it("reads the session with its user's logout-all instant and activity; nothing for an unknown id", async () => {
        const t = era();
        const { user } = await registered(t);
        await ports.sessions.revokeAllOfUser(user.id, new Date(t + MINUTE), { type: "session.logged_out_all", client: CLIENT });
        const session = await loggedIn(user.phone, t + 2 * MINUTE, { session: 3 * HOUR });
        await ports.admin.setActive(user.id, false);
        expect(await ports.sessions.snapshot(session.id)).toEqual({
          userId: user.id,
          createdAt: new Date(t + 2 * MINUTE),
          expiresAt: new Date(t + 2 * MINUTE + 3 * HOUR),
          revoked: false,
          sessionsRevokedBefore: new Date(t + MINUTE),
          userActive: false,
        });
        expect(await ports.sessions.snapshot(token())).toBeUndefined();
      });
    });

    describe("deleteExpired", () => {
      it("deletes up to `limit` expired sessions, soonest expired first, with their tokens", async () => {
        const t = era();
        const { user, session: live } = await registered(t, { session: 2 * HOUR });
        const third = await loggedIn(user.phone, t, { session: 30 * MINUTE });
        const first = await loggedIn(user.phone, t, { session: 10 * MINUTE });
        const second = await loggedIn(user.phone, t, { session: 20 * MINUTE });
        const before = await ports.admin.counts();
        const now = new Date(t + HOUR);

        expect(await ports.sessions.deleteExpired(now, 2)).toEqual({ sessions: 2, tokens: 2 });
        expect(await ports.sessions.snapshot(first.id)).toBeUndefined();
        expect(await ports.sessions.snapshot(second.id)).toBeUndefined();
        expect(await ports.sessions.rotationState(first.refreshJti)).toBeUndefined();
        expect(await ports.sessions.snapshot(third.id)).toBeDefined();

        expect(await ports.sessions.deleteExpired(now, 2)).toEqual({ sessions: 1, tokens: 1 });
        expect(await ports.sessions.deleteExpired(now, 2)).toEqual({ sessions: 0, tokens: 0 });
        expect(await ports.sessions.snapshot(live.id)).toBeDefined();
        expect(await ports.admin.counts()).toEqual({ ...before, sessions: before.sessions - 3, tokens: before.tokens - 3 });
      });

      it("keeps an expired session until its tokens are gone, deleting at most `limit` tokens a call", async () => {
        const t = era();
        const { session } = await registered(t, { session: HOUR });
        const second = await rotated(session.id, session.refreshJti, t + MINUTE);
        const third = await rotated(session.id, second, t + 2 * MINUTE);
        const before = await ports.admin.counts();
        const now = new Date(t + HOUR);

        expect(await ports.sessions.deleteExpired(now, 2)).toEqual({ sessions: 0, tokens: 2 });
        expect(await ports.sessions.snapshot(session.id)).toBeDefined();
        expect(await ports.sessions.deleteExpired(now, 2)).toEqual({ sessions: 1, tokens: 1 });
        expect(await ports.sessions.snapshot(session.id)).toBeUndefined();
        for (const jti of [session.refreshJti, second, third]) expect(await ports.sessions.rotationState(jti)).toBeUndefined();
        expect(await ports.admin.counts()).toEqual({ ...before, sessions: before.sessions - 1, tokens: before.tokens - 3, blacklisted: before.blacklisted - 2 });
      });

      it("deletes an expired session whose tokens were flushed already, counting no token", async () => {
        const t = era();
        const { session } = await registered(t, { session: HOUR, refresh: MINUTE });
        expect(await ports.sessions.deleteExpiredTokens(new Date(t + HOUR), 10)).toBe(1);
        expect(await ports.sessions.snapshot(session.id)).toBeDefined();
        expect(await ports.sessions.deleteExpired(new Date(t + HOUR), 10)).toEqual({ sessions: 1, tokens: 0 });
        expect(await ports.sessions.snapshot(session.id)).toBeUndefined();
      });
    });

    describe("deleteExpiredLegacyTokens", () => {
      it("deletes spent Django tokens past their own expiry, at most `limit` a call, and keeps the live and the undated", async () => {
        const t = era();
        const [old, older, live, undated] = [token(), token(), token(), token()];
        await ports.admin.blacklistLegacy(old, new Date(t - MINUTE));
        await ports.admin.blacklistLegacy(older, new Date(t - HOUR));
        await ports.admin.blacklistLegacy(live, new Date(t + HOUR));
        await ports.admin.blacklistLegacy(undated, null);
        const now = new Date(t);

        expect(await ports.sessions.deleteExpiredLegacyTokens(now, 1)).toBe(1);
        while ((await ports.sessions.deleteExpiredLegacyTokens(now, 100)) > 0);
        expect(await ports.admin.legacySpent(old)).toBeUndefined();
        expect(await ports.admin.legacySpent(older)).toBeUndefined();
        expect((await ports.admin.legacySpent(live))?.reason).toBe("blacklisted");
        expect((await ports.admin.legacySpent(undated))?.reason).toBe("blacklisted");
      });
    });

    describe("deleteExpiredTokens", () => {
      it("deletes up to `limit` expired tokens, soonest expired first, with their blacklist rows, and leaves sessions", async () => {
        const t = era();
        // Issued a, b, c, d; expiring b, c, a, then d (live at `now`).
        const { session } = await registered(t, { refresh: 3 * HOUR });
        const a = session.refreshJti;
        const b = await rotated(session.id, a, t + MINUTE, t + HOUR);
        const c = await rotated(session.id, b, t + 2 * MINUTE, t + 2 * HOUR);
        const d = await rotated(session.id, c, t + 3 * MINUTE, t + 5 * HOUR);
        const before = await ports.admin.counts();
        const now = new Date(t + 4 * HOUR);
        const remaining = async () => {
          const left: string[] = [];
          for (const jti of [a, b, c, d]) if ((await ports.sessions.rotationState(jti)) !== undefined) left.push(jti);
          return left;
        };

        expect(await ports.sessions.deleteExpiredTokens(now, 1)).toBe(1);
        expect(await remaining()).toEqual([a, c, d]);
        // Its predecessor still names it, without a successor to describe.
        expect(await ports.sessions.rotationState(a)).toMatchObject({ replacedBy: b, successor: null });
        expect(await ports.sessions.deleteExpiredTokens(now, 1)).toBe(1);
        expect(await remaining()).toEqual([a, d]);
        expect(await ports.sessions.deleteExpiredTokens(now, 5)).toBe(1);
        expect(await remaining()).toEqual([d]);
        expect(await ports.sessions.deleteExpiredTokens(now, 5)).toBe(0);
        expect(await ports.admin.blacklisted(session.id)).toEqual([]);
        expect(await ports.admin.counts()).toEqual({ ...before, tokens: before.tokens - 3, blacklisted: before.blacklisted - 3 });
        expect(await ports.sessions.snapshot(session.id)).toBeDefined();
        expect(await ports.admin.liveRefreshJti(session.id)).toBe(d);
      });
    });

    describe("the events the commands record", () => {
      it("register records one user.registered about the new user and session, by them, from their client, at the session's start", async () => {
        const t = era();
        const before = await ports.admin.eventCount();
        const { user, session } = await registered(t);
        expect(await eventsOf(user.id)).toEqual([{ ...ABOUT(user.id, session.id), at: new Date(t), type: "user.registered", details: {} }]);
        expect(await ports.admin.eventCount()).toBe(before + 1);
      });

      it("login records one user.logged_in about the session it starts", async () => {
        const t = era();
        const { user } = await registered(t);
        const before = await ports.admin.eventCount();
        const session = await loggedIn(user.phone, t + MINUTE);
        expect(await eventsOf(user.id, ["user.logged_in"])).toEqual([{ ...ABOUT(user.id, session.id), at: new Date(t + MINUTE), type: "user.logged_in", details: {} }]);
        expect(await ports.admin.eventCount()).toBe(before + 1);
      });

      it("revoke records its note once, about the session and its user, with the note's actor and details; nothing for an ended or unknown session", async () => {
        const t = era();
        const { user, session } = await registered(t);
        const other = await loggedIn(user.phone, t);
        const before = await ports.admin.eventCount();
        const staff = randomUUID();
        await ports.sessions.revoke(session.id, "logout", new Date(t + MINUTE), { type: "session.logged_out", client: CLIENT });
        await ports.sessions.revoke(other.id, "admin", new Date(t + 2 * MINUTE), { type: "session.revoked", actor: { kind: "staff", id: staff }, client: null, details: { why: "test" } });
        // Ended already, and never there: nothing.
        await ports.sessions.revoke(session.id, "logout", new Date(t + 3 * MINUTE), { type: "session.logged_out", client: CLIENT });
        await ports.sessions.revoke(token(), "logout", new Date(t + 3 * MINUTE), { type: "session.logged_out", client: CLIENT });

        expect(await eventsOf(user.id, ["session.logged_out", "session.revoked"])).toEqual([
          { userId: user.id, sessionId: other.id, actor: `staff:${staff}`, ip: null, userAgent: null, at: new Date(t + 2 * MINUTE), type: "session.revoked", details: { why: "test" } },
          { ...ABOUT(user.id, session.id), at: new Date(t + MINUTE), type: "session.logged_out", details: {} },
        ]);
        expect(await ports.admin.eventCount()).toBe(before + 2);
      });

      it("revokeAllOfUser records one event about the user with details.revoked, the count it returns (0 too); nothing for an unknown user", async () => {
        const t = era();
        const { user } = await registered(t);
        await loggedIn(user.phone, t);
        const before = await ports.admin.eventCount();
        const note: AuditNote = { type: "session.logged_out_all", actor: { kind: "system" }, client: null, details: { source: "cli" } };
        expect((await ports.sessions.revokeAllOfUser(user.id, new Date(t + MINUTE), note)).revoked).toBe(2);
        expect((await ports.sessions.revokeAllOfUser(user.id, new Date(t + 2 * MINUTE), { type: "session.logged_out_all", client: CLIENT })).revoked).toBe(0);
        await ports.sessions.revokeAllOfUser(randomUUID(), new Date(t + 2 * MINUTE), note);

        expect(await eventsOf(user.id, ["session.logged_out_all"])).toEqual([
          { ...ABOUT(user.id, null), at: new Date(t + 2 * MINUTE), type: "session.logged_out_all", details: { revoked: 0 } },
          { userId: user.id, sessionId: null, actor: "system", ip: null, userAgent: null, at: new Date(t + MINUTE), type: "session.logged_out_all", details: { source: "cli", revoked: 2 } },
        ]);
        expect(await ports.admin.eventCount()).toBe(before + 2);
      });

      it("a refused command records nothing: register of a taken phone, login of an inactive user or an unknown phone", async () => {
        const t = era();
        const { user } = await registered(t);
        await ports.admin.setActive(user.id, false);
        const before = await ports.admin.eventCount();
        expect(await ports.sessions.register({ id: randomUUID(), phone: user.phone, firstName: "", lastName: "" }, newSession(t + MINUTE), true, { type: "user.registered", client: CLIENT })).toBeUndefined();
        expect(await ports.sessions.login(user.phone, newSession(t + MINUTE), true, { type: "user.logged_in", client: CLIENT })).toBeUndefined();
        expect(await ports.sessions.login(freshPhone().e164, newSession(t + MINUTE), true, { type: "user.logged_in", client: CLIENT })).toBeUndefined();
        expect(await ports.admin.eventCount()).toBe(before);
        expect((await eventsOf(user.id)).map((e) => e.type)).toEqual(["user.registered"]);
      });

      it("rotate records nothing (last_used_at records refreshes)", async () => {
        const t = era();
        const { user, session } = await registered(t);
        const before = await ports.admin.eventCount();
        await rotated(session.id, await rotated(session.id, session.refreshJti, t + MINUTE), t + 2 * MINUTE);
        expect(await ports.admin.eventCount()).toBe(before);
        expect((await eventsOf(user.id)).map((e) => e.type)).toEqual(["user.registered"]);
      });
    });

    describe("audit log", () => {
      /** Appends an event of `type` about `userId` at `at` (ms), with a detail to tell it by. */
      async function appended(type: AuditEventType, userId: string | null, at: number, nth: number): Promise<void> {
        await ports.audit.append({ type, at: new Date(at), userId, actor: { kind: "system" }, client: CLIENT, details: { nth } });
      }
      const nths = (events: AuditEvent[]) => events.map((e) => e.details.nth);

      it("appends an event as given: user, session, actor, client and details; an event about no one with its actor", async () => {
        const t = era();
        const userId = randomUUID();
        const before = await ports.admin.eventCount();
        await ports.audit.append({ type: "user.locked_out", at: new Date(t + 1), userId, sessionId: "s-1", actor: { kind: "service", name: "billing" }, client: CLIENT, details: { retry_after: 60, fields: ["a"], on: true } });
        await ports.audit.append({ type: "user.login_failed", at: new Date(t + 2), userId: userId.toUpperCase(), client: { ip: "198.51.100.1", userAgent: null }, details: { reason: "otp_invalid" } });
        await ports.audit.append({ type: "otp.sent", at: new Date(t + 3), userId: null, actor: { kind: "system" }, client: null });

        const [failed, locked, ...rest] = await ports.audit.list({ userId, limit: 10 });
        expect(rest).toEqual([]);
        expect(locked).toEqual({ id: expect.any(String), at: new Date(t + 1), type: "user.locked_out", userId, sessionId: "s-1", actor: "service:billing", ip: CLIENT.ip, userAgent: CLIENT.userAgent, details: { retry_after: 60, fields: ["a"], on: true } });
        // A UUID however it is written; no actor: the user's own doing.
        expect(failed).toEqual({ id: expect.any(String), at: new Date(t + 2), type: "user.login_failed", userId, sessionId: null, actor: `user:${userId}`, ip: "198.51.100.1", userAgent: null, details: { reason: "otp_invalid" } });
        expect(BigInt(failed!.id)).toBeGreaterThan(BigInt(locked!.id));
        const [anonymous] = await ports.audit.list({ types: ["otp.sent"], since: new Date(t), after: { at: new Date(t + DAY), id: "0" }, limit: 10 });
        expect(anonymous).toMatchObject({ at: new Date(t + 3), userId: null, sessionId: null, actor: "system", ip: null, userAgent: null, details: {} });
        expect(await ports.admin.eventCount()).toBe(before + 3);
      });

      it("refuses to append an event about no one that names no actor, and appends nothing", async () => {
        const t = era();
        const before = await ports.admin.eventCount();
        await expect(ports.audit.append({ type: "otp.sent", at: new Date(t), userId: null, client: CLIENT })).rejects.toThrow();
        expect(await ports.admin.eventCount()).toBe(before);
      });

      it("lists newest first, ties on the instant by the later id first, by user and by types, up to the limit", async () => {
        const t = era();
        const [a, b] = [randomUUID(), randomUUID()];
        await appended("user.login_failed", a, t + 3, 1);
        await appended("user.locked_out", a, t + 1, 2);
        await appended("user.login_failed", a, t + 2, 3);
        await appended("user.login_failed", a, t + 2, 4);
        await appended("user.login_failed", b, t + 2, 5);
        await appended("otp.sent", a, t + 4, 6);

        expect(nths(await ports.audit.list({ userId: a, limit: 10 }))).toEqual([6, 1, 4, 3, 2]);
        expect(nths(await ports.audit.list({ userId: a, limit: 3 }))).toEqual([6, 1, 4]);
        expect(nths(await ports.audit.list({ userId: a, types: ["user.login_failed", "user.locked_out"], limit: 10 }))).toEqual([1, 4, 3, 2]);
        expect(nths(await ports.audit.list({ userId: a, types: [], limit: 10 }))).toEqual([6, 1, 4, 3, 2]);
        expect(nths(await ports.audit.list({ userId: b, limit: 10 }))).toEqual([5]);
        expect(await ports.audit.list({ userId: randomUUID(), limit: 10 })).toEqual([]);
        // Without a user: this test's stretch of time, by type.
        const window = { since: new Date(t), after: { at: new Date(t + DAY), id: "0" } };
        expect(nths(await ports.audit.list({ ...window, types: ["user.login_failed"], limit: 10 }))).toEqual([1, 5, 4, 3]);
      });

      it("since is inclusive; after pages by (at, id) without skipping or repeating an event that shares its instant", async () => {
        const t = era();
        const user = randomUUID();
        for (const [at, nth] of [[t + 1, 1], [t + 2, 2], [t + 2, 3], [t + 2, 4], [t + 3, 5]] as const) await appended("user.login_failed", user, at, nth);

        expect(nths(await ports.audit.list({ userId: user, since: new Date(t + 2), limit: 10 }))).toEqual([5, 4, 3, 2]);
        expect(nths(await ports.audit.list({ userId: user, since: new Date(t + 3), limit: 10 }))).toEqual([5]);
        expect(await ports.audit.list({ userId: user, since: new Date(t + 4), limit: 10 })).toEqual([]);

        const pages: unknown[][] = [];
        let after: { at: Date; id: string } | undefined;
        for (;;) {
          const page = await ports.audit.list({ userId: user, after, limit: 2 });
          if (page.length === 0) break;
          pages.push(nths(page));
          const last = page[page.length - 1]!;
          after = { at: last.at, id: last.id };
        }
        expect(pages).toEqual([[5, 4], [3, 2], [1]]);
        // With since too: the pages stop at it.
        const first = await ports.audit.list({ userId: user, since: new Date(t + 2), limit: 2 });
        const last = first[1]!;
        expect(nths(await ports.audit.list({ userId: user, since: new Date(t + 2), after: { at: last.at, id: last.id }, limit: 2 }))).toEqual([3, 2]);
      });

      it("deleteOlderThan deletes up to `limit` events strictly older than `before`, oldest first, and says how many", async () => {
        const t = era();
        const user = randomUUID();
        for (const nth of [1, 2, 3, 4, 5]) await appended("user.login_failed", user, t + nth * MINUTE, nth);
        const before = await ports.admin.eventCount();
        const cutoff = new Date(t + 4 * MINUTE);

        expect(await ports.audit.deleteOlderThan(cutoff, 2)).toBe(2);
        expect(nths(await ports.audit.list({ userId: user, limit: 10 }))).toEqual([5, 4, 3]);
        expect(await ports.audit.deleteOlderThan(cutoff, 2)).toBe(1);
        expect(await ports.audit.deleteOlderThan(cutoff, 2)).toBe(0);
        // The event at the cut-off itself stays.
        expect(nths(await ports.audit.list({ userId: user, limit: 10 }))).toEqual([5, 4]);
        expect(await ports.admin.eventCount()).toBe(before - 3);
        // Ids keep growing after deletions.
        await appended("user.login_failed", user, t + 6 * MINUTE, 6);
        const [newest, previous] = await ports.audit.list({ userId: user, limit: 2 });
        expect(BigInt(newest!.id)).toBeGreaterThan(BigInt(previous!.id));
      });
    });

    describe("users", () => {
      it("updateNames changes only the names given, and returns undefined for an unknown id", async () => {
        const t = era();
        const { user } = await registered(t);
        const update = (id: string, names: { firstName?: string; lastName?: string }) => ports.users.updateNames(id, names, new Date(t + MINUTE), PROFILE_NOTE);
        expect(await update(user.id, { firstName: "Mina" })).toEqual({ ...user, firstName: "Mina" });
        expect(await ports.users.updateNames(user.id, { lastName: "Karimi", firstName: undefined }, new Date(t + MINUTE), PROFILE_NOTE)).toEqual({ ...user, firstName: "Mina", lastName: "Karimi" });
        expect(await update(user.id, {})).toEqual({ ...user, firstName: "Mina", lastName: "Karimi" });
        expect(await update(user.id, { firstName: "", lastName: "" })).toEqual({ ...user, firstName: "", lastName: "" });
        expect(await ports.users.findById(user.id)).toEqual({ ...user, firstName: "", lastName: "" });
        expect(await update(randomUUID(), { firstName: "Nobody" })).toBeUndefined();
      });

      it("updateNames records user.profile_updated with the fields whose value changed, and nothing when none did", async () => {
        const t = era();
        const { user } = await registered(t);
        const before = await ports.admin.eventCount();
        const update = (names: { firstName?: string; lastName?: string }, at: number) => ports.users.updateNames(user.id, names, new Date(at), PROFILE_NOTE);

        await update({ firstName: "Mina" }, t + MINUTE);
        await update({ firstName: "Mina", lastName: "Karimi" }, t + 2 * MINUTE); // the first name as it was
        await update({ firstName: "Zahra", lastName: "Rahimi" }, t + 3 * MINUTE);
        // Nothing changes: no event.
        await update({}, t + 4 * MINUTE);
        await update({ firstName: "Zahra", lastName: "Rahimi" }, t + 5 * MINUTE);
        expect(await ports.users.updateNames(randomUUID(), { firstName: "Nobody" }, new Date(t + 6 * MINUTE), PROFILE_NOTE)).toBeUndefined();

        expect(await eventsOf(user.id, ["user.profile_updated"])).toEqual([
          { ...ABOUT(user.id, null), at: new Date(t + 3 * MINUTE), type: "user.profile_updated", details: { fields: ["first_name", "last_name"] } },
          { ...ABOUT(user.id, null), at: new Date(t + 2 * MINUTE), type: "user.profile_updated", details: { fields: ["last_name"] } },
          { ...ABOUT(user.id, null), at: new Date(t + MINUTE), type: "user.profile_updated", details: { fields: ["first_name"] } },
        ]);
        expect(await ports.admin.eventCount()).toBe(before + 3);
      });

      it("findById and findByPhone find the user, and nothing for unknown ones", async () => {
        const t = era();
        const { user } = await registered(t);
        expect(await ports.users.findById(user.id)).toEqual(user);
        // A UUID is one value however it is written (PostgreSQL's uuid type).
        expect(await ports.users.findById(user.id.toUpperCase())).toEqual(user);
        expect(await ports.users.findByPhone(user.phone)).toEqual(user);
        expect(await ports.users.findById(randomUUID())).toBeUndefined();
        expect(await ports.users.findByPhone(freshPhone().e164)).toBeUndefined();
      });

      it("create makes a user without a session, staff when asked, and records its event with the note's actor", async () => {
        const t = era();
        const before = await ports.admin.counts();
        const id = randomUUID();
        const phone = freshPhone().e164;
        const note = { type: "user.registered", actor: { kind: "system" }, client: null, details: { via: "cli", is_staff: true } } as const;
        const user = await ports.users.create({ id, phone, firstName: "Sara", lastName: "Ahmadi", isStaff: true }, new Date(t), note);
        const expected: User = { id, phone, firstName: "Sara", lastName: "Ahmadi", isStaff: true, isActive: true, dateJoined: new Date(t), lastLogin: null };
        expect(user).toEqual(expected);
        expect(await ports.users.findByPhone(phone)).toEqual(expected);
        expect(await ports.admin.counts()).toEqual({ ...before, users: before.users + 1 });
        expect(await ports.audit.list({ userId: id, limit: 10 })).toEqual([
          { id: expect.any(String), at: new Date(t), type: "user.registered", userId: id, sessionId: null, actor: "system", ip: null, userAgent: null, details: { via: "cli", is_staff: true } },
        ]);

        const plain = must(await ports.users.create({ id: randomUUID(), phone: freshPhone().e164, firstName: "", lastName: "", isStaff: false }, new Date(t), note));
        expect(plain).toMatchObject({ isStaff: false, isActive: true, lastLogin: null });
      });

      it("create of a taken phone returns undefined, changing and recording nothing", async () => {
        const t = era();
        const { user } = await registered(t);
        const before = await ports.admin.counts();
        const eventsBefore = await ports.audit.list({ userId: user.id, limit: 10 });
        const id = randomUUID();
        const again = await ports.users.create({ id, phone: user.phone, firstName: "Other", lastName: "", isStaff: true }, new Date(t + MINUTE), {
          type: "user.registered",
          actor: { kind: "system" },
          client: null,
        });
        expect(again).toBeUndefined();
        expect(await ports.admin.counts()).toEqual(before);
        expect(await ports.users.findByPhone(user.phone)).toEqual(user);
        expect(await ports.users.findById(id)).toBeUndefined();
        expect(await ports.audit.list({ userId: user.id, limit: 10 })).toEqual(eventsBefore);
        expect(await ports.audit.list({ userId: id, limit: 10 })).toEqual([]);
      });
    });

    describe("staff's view of users", () => {
      const STAFF_NOTE: AuditNote = { type: "admin.user_updated", actor: { kind: "staff", id: "00000000-0000-4000-8000-000000000001" }, client: CLIENT };
      /** A name no other test's users carry, so a search sees only this test's users. */
      const marker = (): string => `M${randomBytes(5).toString("hex")}`;
      const ids = (listed: ListedUser[]) => listed.map((l) => l.user.id);
      const eventsOf = async (userId: string) => ports.audit.list({ userId, limit: 100 });

      async function named(at: number, firstName: string, lastName: string, phone = freshPhone().e164): Promise<User> {
        return must(await ports.sessions.register({ id: randomUUID(), phone, firstName, lastName }, newSession(at), false, { type: "user.registered", client: CLIENT }));
      }

      it("findView counts live sessions only: not revoked, expired, or ended by logout-all; none for an inactive user", async () => {
        const t = era();
        const { user } = await registered(t);
        const ended = await loggedIn(user.phone, t + MINUTE);
        await ports.sessions.revoke(ended.id, "logout", new Date(t + 2 * MINUTE), { type: "session.logged_out", client: CLIENT });
        await loggedIn(user.phone, t + 2 * MINUTE, { session: HOUR });
        const now = new Date(t + 10 * MINUTE);
        expect(await ports.users.findView(user.id, now)).toEqual({ user: { ...user, lastLogin: user.lastLogin }, liveSessions: 2 });
        expect((await ports.users.findView(user.id, new Date(t + 2 * MINUTE + HOUR)))?.liveSessions).toBe(1);
        await ports.sessions.revokeAllOfUser(user.id, new Date(t + 3 * MINUTE), { type: "session.logged_out_all", client: CLIENT });
        await loggedIn(user.phone, t + 4 * MINUTE);
        expect((await ports.users.findView(user.id, now))?.liveSessions).toBe(1);
        await ports.admin.setActive(user.id, false);
        expect(await ports.users.findView(user.id, now)).toMatchObject({ user: { isActive: false }, liveSessions: 0 });
        expect(await ports.users.findView(user.id.toUpperCase(), now)).toMatchObject({ user: { id: user.id } });
        expect(await ports.users.findView(randomUUID(), now)).toBeUndefined();
      });

      it("search lists newest date_joined first, ties by larger id first, each with live sessions and its place", async () => {
        const t = era();
        const name = marker();
        const older = await named(t, name, "A");
        const tiedA = await named(t + MINUTE, name, "B");
        const tiedB = await named(t + MINUTE, name, "C");
        const newest = await named(t + 2 * MINUTE, name, "D");
        const listed = await ports.users.search({ namePart: name, limit: 10, now: new Date(t + 3 * MINUTE) });
        const [firstTied, secondTied] = [tiedA, tiedB].sort((a, b) => (a.id > b.id ? -1 : 1));
        expect(ids(listed)).toEqual([newest.id, firstTied!.id, secondTied!.id, older.id]);
        expect(listed[0]).toEqual({ user: newest, liveSessions: 1, position: { dateJoinedMicros: BigInt(t + 2 * MINUTE) * 1000n, id: newest.id } });
      });

      it("search pages by position: no user skipped or repeated, whoever joins meanwhile", async () => {
        const t = era();
        const name = marker();
        const joined: User[] = [];
        for (let i = 0; i < 5; i++) joined.push(await named(t + (i % 3) * MINUTE, name, `P${i}`));
        const now = new Date(t + HOUR);
        const seen: string[] = [];
        let after: ListedUser["position"] | undefined;
        for (let page = 0; page < 10; page++) {
          const listed = await ports.users.search({ namePart: name, after, limit: 2, now });
          if (listed.length === 0) break;
          seen.push(...ids(listed));
          after = listed.at(-1)?.position;
          // Newer users, and one dated among the others: neither shifts the pages.
          await named(t + 2 * HOUR + page * MINUTE, name, `New${page}`);
          if (page === 0) joined.push(await named(t - MINUTE, name, "Backdated"));
        }
        const all = await ports.users.search({ namePart: name, limit: 100, now });
        expect(new Set(seen).size).toBe(seen.length);
        // Every user older than the first page's last is seen, in the full listing's order.
        expect(seen).toEqual(ids(all).filter((id) => joined.some((u) => u.id === id)));
      });

      it("search filters by exact phone, phone prefix and name part (case-insensitive, Latin and Persian), all of them together", async () => {
        const t = era();
        const name = marker();
        const prefix = `+98935${randomBytes(2).readUInt16BE() % 1000}`.padEnd(9, "0");
        const sara = await named(t, "Sara", `Ahmadi${name}`, `${prefix}0001`);
        const zahra = await named(t + MINUTE, `zahra${name}`, "AHMADVAND", `${prefix}0002`);
        const persian = await named(t + 2 * MINUTE, "مریم", `احمدی${name}`, `${prefix}1003`);
        const now = new Date(t + HOUR);
        const find = async (query: Partial<Parameters<UserRepository["search"]>[0]>) => ids(await ports.users.search({ limit: 10, now, ...query }));

        expect(await find({ phone: sara.phone })).toEqual([sara.id]);
        expect(await find({ phonePrefix: prefix })).toEqual([persian.id, zahra.id, sara.id]);
        expect(await find({ phonePrefix: `${prefix}000` })).toEqual([zahra.id, sara.id]);
        expect(await find({ namePart: name.toLowerCase() })).toEqual([persian.id, zahra.id, sara.id]);
        expect(await find({ namePart: `MADI${name}` })).toEqual([sara.id]);
        expect(await find({ namePart: `احمدی${name}` })).toEqual([persian.id]);
        expect(await find({ namePart: `ZAHRA${name}`.toUpperCase() })).toEqual([zahra.id]);
        expect(await find({ phonePrefix: prefix, namePart: `ahmadi${name}` })).toEqual([sara.id]);
        expect(await find({ phone: zahra.phone, namePart: "sara" })).toEqual([]);
      });

      it("search takes %, _ and \\ in a name part literally", async () => {
        const t = era();
        const name = marker();
        const percent = await named(t, `100%${name}`, "x");
        const plain = await named(t + MINUTE, `100a${name}`, "x");
        const slash = await named(t + 2 * MINUTE, `a\\b${name}`, "x");
        const now = new Date(t + HOUR);
        expect(ids(await ports.users.search({ namePart: `0%${name}`, limit: 10, now }))).toEqual([percent.id]);
        expect(ids(await ports.users.search({ namePart: `0_${name}`, limit: 10, now }))).toEqual([]);
        expect(ids(await ports.users.search({ namePart: `\\b${name}`, limit: 10, now }))).toEqual([slash.id]);
        expect(ids(await ports.users.search({ namePart: name, limit: 10, now }))).toEqual([slash.id, plain.id, percent.id]);
      });

      it("updateFlags deactivating ends every session with the user's row, says how many, and records the event, once", async () => {
        const t = era();
        const { user, session: first } = await registered(t);
        // Started by a clock ahead of the deactivation's.
        const ahead = await loggedIn(user.phone, t + 5 * MINUTE);
        const now = new Date(t + 2 * MINUTE);
        const note: AuditNote = { ...STAFF_NOTE, details: { is_active: false } };
        const result = await ports.users.updateFlags(user.id, { isActive: false }, now, note);
        expect(result).toEqual({ view: { user: { ...user, isActive: false }, liveSessions: 0 }, at: new Date(t + 5 * MINUTE), revoked: 2 });
        for (const session of [first, ahead]) {
          expect(await ports.sessions.snapshot(session.id)).toMatchObject({ revoked: true, userActive: false, sessionsRevokedBefore: new Date(t + 5 * MINUTE) });
          expect(await ports.sessions.rotate({ sessionId: session.id, oldJti: session.refreshJti, newJti: token(), now, refreshExpiresAt: new Date(t + HOUR), client: CLIENT })).toBeUndefined();
        }
        expect(await ports.sessions.login(user.phone, newSession(t + 6 * MINUTE), false, { type: "user.logged_in", client: CLIENT })).toBeUndefined();
        expect((await eventsOf(user.id)).filter((e) => e.type === "admin.user_updated")).toEqual([
          expect.objectContaining({ at: now, userId: user.id, sessionId: null, actor: "staff:00000000-0000-4000-8000-000000000001", ip: CLIENT.ip, userAgent: CLIENT.userAgent, details: { is_active: false } }),
        ]);
        // Deactivating again ends nothing more.
        expect((await ports.users.updateFlags(user.id, { isActive: false }, new Date(t + 7 * MINUTE), note))?.revoked).toBe(0);
      });

      it("updateFlags reactivating keeps old sessions dead and lets a new one start; staff alone touches no session", async () => {
        const t = era();
        const { user, session: old } = await registered(t);
        await ports.users.updateFlags(user.id, { isActive: false }, new Date(t + MINUTE), { ...STAFF_NOTE, details: { is_active: false } });
        const back = await ports.users.updateFlags(user.id, { isActive: true }, new Date(t + 2 * MINUTE), { ...STAFF_NOTE, details: { is_active: true } });
        expect(back).toEqual({ view: { user, liveSessions: 0 }, at: new Date(t + MINUTE), revoked: 0 });
        expect((await ports.sessions.snapshot(old.id))?.revoked).toBe(true);
        const fresh = await loggedIn(user.phone, t + 3 * MINUTE);
        const staff = await ports.users.updateFlags(user.id, { isStaff: true }, new Date(t + 4 * MINUTE), { ...STAFF_NOTE, details: { is_staff: true } });
        expect(staff).toEqual({ view: { user: { ...user, isStaff: true }, liveSessions: 1 }, at: new Date(t + MINUTE), revoked: 0 });
        expect((await ports.sessions.snapshot(fresh.id))?.revoked).toBe(false);
        expect(await ports.users.findById(user.id)).toEqual({ ...user, isStaff: true });
        expect((await eventsOf(user.id)).map((e) => [e.type, e.details])).toEqual([
          ["admin.user_updated", { is_staff: true }],
          ["user.logged_in", {}],
          ["admin.user_updated", { is_active: true }],
          ["admin.user_updated", { is_active: false }],
          ["user.registered", {}],
        ]);
      });

      it("updateFlags of an unknown user changes nothing and records nothing", async () => {
        const t = era();
        const id = randomUUID();
        expect(await ports.users.updateFlags(id, { isActive: false }, new Date(t), STAFF_NOTE)).toBeUndefined();
        expect(await eventsOf(id)).toEqual([]);
      });

      // Only the SQL implementations: memory keeps milliseconds, and has no statement to fail.
      if (implementation.name !== "memory") {
        describe("in SQL", () => {
        it("search pages exactly at microseconds PostgreSQL keeps", async () => {
          const db = must(ports.db);
          const t = era();
          const name = marker();
          const users = [await named(t, name, "a"), await named(t, name, "b"), await named(t, name, "c")];
          // Joined within one millisecond, as rows written by other tools can be.
          for (const [i, user] of users.entries()) {
            await db.query(`UPDATE users SET date_joined = date_joined + ($2::int * interval '1 microsecond') WHERE id = $1`, [user.id, 100 * (i + 1)]);
          }
          const seen: string[] = [];
          let after: ListedUser["position"] | undefined;
          for (let page = 0; page < 3; page++) {
            const [one] = await ports.users.search({ namePart: name, after, limit: 1, now: new Date(t) });
            seen.push(must(one).user.id);
            after = must(one).position;
          }
          expect(seen).toEqual(users.map((u) => u.id).reverse());
          expect(after?.dateJoinedMicros).toBe(BigInt(t) * 1000n + 100n);
        });

        it("a change whose event cannot be written changes nothing", async () => {
          const db = must(ports.db);
          const t = era();
          const { user, session } = await registered(t);
          // PostgreSQL stores no NUL character: the event's insert fails, and with it the statement.
          const unwritable: AuditNote = { ...STAFF_NOTE, client: { ip: "203.0.113.1\u0000", userAgent: null }, details: { is_active: false } };
          await expect(ports.users.updateFlags(user.id, { isActive: false, isStaff: true }, new Date(t + MINUTE), unwritable)).rejects.toThrow();
          expect(await ports.users.findById(user.id)).toEqual(user);
          expect(await ports.sessions.snapshot(session.id)).toMatchObject({ revoked: false, sessionsRevokedBefore: null, userActive: true });
          expect((await eventsOf(user.id)).map((e) => e.type)).toEqual(["user.registered"]);
        });
        });
      }
    });
  });
});
