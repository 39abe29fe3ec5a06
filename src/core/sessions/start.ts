import type { CoreDeps } from "../deps.js";
import type { ClientInfo, NewSession } from "../ports/sessions.js";
import type { User } from "../ports/users.js";
import { issueTokenPair, type TokenPair } from "../tokens/issue.js";
import { announceProfileChange } from "../users/profile.js";

/** A session just started: its user and its first token pair. */
export interface SignedIn {
  user: User;
  tokens: TokenPair;
}

/** Whose session starts: an existing active user (by phone), or a user created with it. */
export type SessionFor =
  | { kind: "existing"; phone: string }
  | { kind: "new"; phone: string; firstName: string; lastName: string };

/**
 * Starts a session and issues its first token pair: the one way a session begins
 * (login, register, a session for a user authenticated elsewhere). Undefined when
 * the store refused: no active user has that phone, or the new user's phone is taken.
 */
export async function startSession(deps: CoreDeps, owner: SessionFor, client: ClientInfo): Promise<SignedIn | undefined> {
  const nowMs = deps.clock.now();
  const session = newSession(deps, nowMs, client);
  const { updateLastLogin } = deps.config.tokens;
  const user =
    owner.kind === "new"
      ? await deps.sessions.register({ id: deps.random.uuid(), phone: owner.phone, firstName: owner.firstName, lastName: owner.lastName }, session, updateLastLogin, { type: "user.registered", client })
      : await deps.sessions.login(owner.phone, session, updateLastLogin, { type: "user.logged_in", client });
  if (user === undefined) return undefined;
  // A new user has no copies of the profile elsewhere to drop.
  return completeSignIn(deps, user, session, updateLastLogin && owner.kind === "existing");
}

/**
 * The first token pair of a session the store just started for `user`. When its
 * last_login moved, copies of the profile elsewhere are out of date: announced best
 * effort, since the session is committed (and a code or a legacy token spent), so
 * failing here would strand the client; and while Redis cannot carry the
 * announcement, no copy is trusted anyway.
 */
export async function completeSignIn(deps: CoreDeps, user: User, session: NewSession, lastLoginMoved: boolean): Promise<SignedIn> {
  if (lastLoginMoved) {
    await announceProfileChange(deps, user.id).catch((error: unknown) => deps.log.warn({ err: String(error) }, "profile change not announced"));
  }
  const nowMs = session.createdAt.getTime();
  const tokens = issueTokenPair(deps, user, { id: session.id, expiresAtMs: session.expiresAt.getTime() },
    { jti: session.refreshJti, issuedAtMs: nowMs, expiresAtMs: session.refreshExpiresAt.getTime() }, nowMs);
  return { user, tokens };
}

/** The ids and instants of a session about to be created. */
export function newSession(deps: Pick<CoreDeps, "random" | "config">, nowMs: number, client: ClientInfo): NewSession {
  const { tokens } = deps.config;
  const expiresAtMs = nowMs + tokens.sessionMaxLifetimeMs;
  return {
    id: deps.random.id(),
    refreshJti: deps.random.id(),
    createdAt: new Date(nowMs),
    expiresAt: new Date(expiresAtMs),
    refreshExpiresAt: new Date(refreshExpiry(deps.config, nowMs)),
    client,
  };
}

/** Refresh tokens live REFRESH_TOKEN_LIFETIME; the session cap is enforced at refresh. */
export function refreshExpiry(config: CoreDeps["config"], nowMs: number): number {
  return nowMs + config.tokens.refreshLifetimeMs;
}
