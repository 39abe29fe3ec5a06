/**
 * The revocations a backend holds to verify access tokens without asking the service
 * (the revocation feed's events), bounded: one entry per revoked session, one per
 * user (the latest logout-all instant), each dropped once no token it covers can
 * still be accepted.
 *
 * Which tokens a user's `revoked_before` R covers. The service ends every session
 * created at or before R (SESSION_REVOKED_SQL: `s.created_at <= sessions_revoked_before`),
 * but a token carries `iat` in whole seconds, not its session's start. Read against
 * the code:
 * - Certainly dead: a token issued well before R. Its session existed when it was
 *   issued (login writes the token's iat from the session's own start; refresh and
 *   the grace replay check the session is live first), and a session alive then
 *   started before R unless the database moved its start forward: a login that
 *   read its clock before a logout-all and committed after it starts at R + 1 ms
 *   (SESSION_OF_U), so its first token's iat may fall just before R although the
 *   session lives. Hence "well before": the iat's second ended more than a second
 *   (plus JWT_LEEWAY, for instances whose clocks disagree) before R.
 * - Not decidable from iat: anything later. "Issued after R, so not covered" is
 *   wrong: a refresh that reads its clock after logout-all read R (endingEverySession)
 *   but commits before logout-all's statement signs a token with iat > R for a
 *   session the service counts dead. Such a token is asked of the service once per
 *   session; its answer holds for that session until the user's R moves again
 *   (`settle`).
 */
import type { TokenClaims } from "../tokens/claims.js";

export interface RevocationRules {
  /** ACCESS_TOKEN_LIFETIME of the service. */
  accessLifetimeMs: number;
  /** JWT_LEEWAY of the service. */
  leewayMs: number;
}

/** What the set says of a token: refused, not covered, or ask the service. */
export type Coverage = "revoked" | "not_revoked" | "ask";

interface UserEntry {
  revokedBeforeMs: number;
  expiresAtMs: number;
  /** Sessions the service said were alive after this R (`settle`). */
  survivors: Set<string>;
}

export interface RevocationSet {
  /** Every token of the session is dead (made at `atMs`). */
  revokeSession(sessionId: string, atMs: number, nowMs: number): void;
  /** Every session of the user created at or before `revokedBeforeMs` is dead. */
  revokeUserBefore(userId: string, revokedBeforeMs: number, atMs: number, nowMs: number): void;
  check(claims: Pick<TokenClaims, "sub" | "sid" | "iat">, nowMs: number): Coverage;
  /**
   * The service's answer about a token `check` said to ask about: remembered for its
   * session, so the next token of that session is answered here. `asked` is what
   * `askedAbout` returned before the question went out: an answer to a question
   * older than the user's latest R is not kept.
   */
  settle(claims: Pick<TokenClaims, "sub" | "sid">, asked: number | undefined, live: boolean, nowMs: number): void;
  /** The user's R when a question goes out (for `settle`). */
  askedAbout(userId: string): number | undefined;
  /** Entries held (sessions and users). */
  readonly size: number;
}

export function createRevocationSet(rules: RevocationRules): RevocationSet {
  const sessions = new Map<string, number>();
  const users = new Map<string, UserEntry>();
  // A covered token may be accepted until its iat (at most the revocation, or a
  // JWT_LEEWAY later on an instance whose clock runs ahead) plus its lifetime and
  // JWT_LEEWAY, counted in whole seconds (verify.ts bounds both exp and iat so).
  const keepMs = rules.accessLifetimeMs + 2 * rules.leewayMs + 1000;
  const certainlyBeforeMs = 1000 + rules.leewayMs;

  // Entries go in roughly in order of expiry (events arrive in order), so the
  // oldest are at the front of each map: dropping stops at the first live one.
  const prune = (nowMs: number) => {
    for (const [id, expiresAtMs] of sessions) {
      if (expiresAtMs > nowMs) break;
      sessions.delete(id);
    }
    for (const [id, entry] of users) {
      if (entry.expiresAtMs > nowMs) break;
      users.delete(id);
    }
  };
  const addSession = (sessionId: string, expiresAtMs: number) => {
    const held = sessions.get(sessionId);
    if (held !== undefined && held >= expiresAtMs) return;
    sessions.delete(sessionId);
    sessions.set(sessionId, expiresAtMs);
  };

  return {
    revokeSession(sessionId, atMs, nowMs) {
      prune(nowMs);
      addSession(sessionId, atMs + keepMs);
    },
    revokeUserBefore(userId, revokedBeforeMs, atMs, nowMs) {
      prune(nowMs);
      const held = users.get(userId);
      const latest = Math.max(revokedBeforeMs, held?.revokedBeforeMs ?? -Infinity);
      const expiresAtMs = Math.max(latest, atMs) + keepMs;
      // Survivors of an earlier R say nothing about a later one.
      const survivors = held !== undefined && held.revokedBeforeMs === latest ? held.survivors : new Set<string>();
      users.delete(userId);
      users.set(userId, { revokedBeforeMs: latest, expiresAtMs: Math.max(expiresAtMs, held?.expiresAtMs ?? 0), survivors });
    },
    check(claims, nowMs) {
      prune(nowMs);
      const sessionUntil = sessions.get(claims.sid);
      if (sessionUntil !== undefined && sessionUntil > nowMs) return "revoked";
      const user = users.get(claims.sub);
      if (user === undefined || user.expiresAtMs <= nowMs) return "not_revoked";
      if ((claims.iat + 1) * 1000 + certainlyBeforeMs <= user.revokedBeforeMs) return "revoked";
      return user.survivors.has(claims.sid) ? "not_revoked" : "ask";
    },
    settle(claims, asked, live, nowMs) {
      if (!live) {
        addSession(claims.sid, nowMs + keepMs);
        return;
      }
      const user = users.get(claims.sub);
      if (user !== undefined && asked === user.revokedBeforeMs) user.survivors.add(claims.sid);
    },
    askedAbout: (userId) => users.get(userId)?.revokedBeforeMs,
    get size() {
      return sessions.size + users.size;
    },
  };
}
