/**
 * Refresh-token rotation with reuse detection. The database decides who wins a
 * race (a compare-and-swap on the session's one live refresh token); a loser that
 * presents the token again within REFRESH_REUSE_INTERVAL gets the same successor,
 * and anyone later is treated as a thief: the whole session is revoked. A refresh
 * token the Django system issued is exchanged once for a new session instead
 * (legacy-exchange.ts).
 */
import { AppError } from "../errors.js";
import type { CoreDeps } from "../deps.js";
import { readToken } from "../tokens/authenticate.js";
import type { ClientInfo } from "../ports/sessions.js";
import type { TokenClaims } from "../tokens/claims.js";
import type { User } from "../ports/users.js";
import { issueAccessToken, issueTokenPair, type RefreshTokenSpec, type TokenPair } from "../tokens/issue.js";
import { UNKNOWN_CLIENT } from "./client.js";
import { refreshExpiry } from "./start.js";
import { exchangeLegacyToken, readLegacyToken } from "./legacy-exchange.js";
import { assertSessionLive, liveRefreshToken } from "./liveness.js";
import { announceRevocations } from "../revocations/announce.js";

/** How a refresh ended, short of a refusal. */
type Refreshed = { outcome: "rotated" | "grace_replay"; pair: TokenPair } | { outcome: "reuse_detected" };

export async function refreshSession(deps: CoreDeps, refreshToken: string, client: ClientInfo = UNKNOWN_CLIENT): Promise<TokenPair> {
  let refreshed: Refreshed;
  try {
    refreshed = await rotateOrReplay(deps, refreshToken, client);
  } catch (error) {
    // A store that fails refused nothing: the caller hears 503 and may retry.
    if (error instanceof AppError) deps.metrics.refreshed("refused");
    throw error;
  }
  deps.metrics.refreshed(refreshed.outcome);
  if (refreshed.outcome === "reuse_detected") throw new AppError("token_blacklisted");
  return refreshed.pair;
}

async function rotateOrReplay(deps: CoreDeps, refreshToken: string, client: ClientInfo): Promise<Refreshed> {
  const nowMs = deps.clock.now();
  const { tokens } = deps.config;
  let claims: TokenClaims;
  try {
    claims = await readToken(deps, refreshToken, "refresh");
  } catch (error) {
    // Not ours: perhaps the Django system's, to exchange once. Our own tokens'
    // refusals (expired, wrong type) never get here, so they keep their reasons.
    const legacy = error instanceof AppError && error.reason === "token_not_valid" ? await readLegacyToken(deps, refreshToken) : undefined;
    if (legacy === undefined) throw error;
    // An exchange answers as a rotation does (DESIGN's outcomes name no other success).
    return { outcome: "rotated", pair: await exchangeLegacyToken(deps, legacy, client) };
  }
  // The cache has the final say on revocation (logout writes it first), and a
  // cache that does not answer fails the refresh closed.
  await assertSessionLive(deps, claims.sub, claims.sid);

  if (!tokens.rotateRefreshTokens) {
    const state = await liveRefreshToken(deps, claims.jti);
    if (state === undefined) throw new AppError("token_blacklisted");
    // The very token presented, not signed again: that would change its bytes
    // (ES256/EdDSA signatures are randomized), and clients compare refresh tokens as strings.
    const access = issueAccessToken(deps, state.user, { id: claims.sid, expiresAtMs: state.sessionExpiresAt.getTime() }, nowMs);
    // Not rotated, but answered as a rotation is (DESIGN's outcomes name no other success).
    return { outcome: "rotated", pair: { ...access, refresh: refreshToken, refreshExpiresAt: new Date(claims.exp * 1000) } };
  }

  const newJti = deps.random.id();
  const refreshExpiresAtMs = refreshExpiry(deps.config, nowMs);
  const rotated = await deps.sessions.rotate({
    sessionId: claims.sid,
    oldJti: claims.jti,
    newJti,
    now: new Date(nowMs),
    refreshExpiresAt: new Date(refreshExpiresAtMs),
    client,
  });
  if (rotated !== undefined) {
    return { outcome: "rotated", pair: sessionPair(deps, claims.sid, rotated, { jti: newJti, issuedAtMs: nowMs, expiresAtMs: refreshExpiresAtMs }, nowMs) };
  }
  return replayOrRefuse(deps, claims.jti, claims.sid, nowMs, client);
}

/** The token was not the session's live one: a retry within the grace interval, or theft. */
async function replayOrRefuse(deps: CoreDeps, jti: string, sessionId: string, nowMs: number, client: ClientInfo): Promise<Refreshed> {
  const state = await deps.sessions.rotationState(jti);
  if (state === undefined || state.sessionId !== sessionId) throw new AppError("token_not_valid", "unknown refresh token");
  if (state.sessionRevoked) throw new AppError("session_revoked");
  if (state.sessionExpiresAt.getTime() <= nowMs) throw new AppError("session_expired");

  const { successor, rotatedAt } = state;
  const graceMs = deps.config.tokens.refreshReuseIntervalMs;
  // `graceMs > 0`: with 0s even a reuse in the very instant of the rotation is theft.
  const withinGrace = graceMs > 0 && rotatedAt !== null && nowMs - rotatedAt.getTime() <= graceMs;
  if (successor !== null && successor.isCurrent && withinGrace) {
    const pair = sessionPair(deps, sessionId, state, { jti: successor.jti, issuedAtMs: successor.createdAt.getTime(), expiresAtMs: successor.expiresAt.getTime() }, nowMs);
    return { outcome: "grace_replay", pair };
  }
  if (state.replacedBy === null) {
    // Not rotated and yet the swap failed: the session changed under us (revoked or
    // expired between the two reads). Refuse as revoked; the client must log in.
    throw new AppError("session_revoked");
  }
  // A rotated-out token presented after the grace interval: someone holds a copy.
  deps.log.warn({ sessionId, userId: state.userId }, "refresh token reuse detected; session revoked");
  await deps.liveness.markRevoked(state.userId, sessionId);
  const ended = await deps.sessions.revoke(sessionId, "reuse_detected", new Date(nowMs), { type: "session.reuse_detected", actor: { kind: "system" }, client });
  // A parallel reuse, or a logout, may have ended it first: that one counts it.
  if (ended) announceRevocations(deps);
  deps.metrics.sessionsRevoked("reuse_detected", ended ? 1 : 0);
  return { outcome: "reuse_detected" };
}

/** What a refresh answers: a fresh access token beside `refresh`, a refresh token of
 * the session, for the session's user as the store read it just now. */
function sessionPair(deps: CoreDeps, sessionId: string, session: { user: User; sessionExpiresAt: Date }, refresh: RefreshTokenSpec, nowMs: number): TokenPair {
  return issueTokenPair(deps, session.user, { id: sessionId, expiresAtMs: session.sessionExpiresAt.getTime() }, refresh, nowMs);
}
