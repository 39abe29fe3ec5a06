import type { CoreDeps } from "../deps.js";
import type { NewSession } from "../ports/sessions.js";

/** The ids and instants of a session about to be created. */
export function newSession(deps: Pick<CoreDeps, "random" | "config">, nowMs: number): NewSession {
  const { tokens } = deps.config;
  const expiresAtMs = nowMs + tokens.sessionMaxLifetimeMs;
  return {
    id: deps.random.id(),
    refreshJti: deps.random.id(),
    createdAt: new Date(nowMs),
    expiresAt: new Date(expiresAtMs),
    refreshExpiresAt: new Date(refreshExpiry(deps.config, nowMs)),
  };
}

/** Refresh tokens live REFRESH_TOKEN_LIFETIME; the session cap is enforced at refresh. */
export function refreshExpiry(config: CoreDeps["config"], nowMs: number): number {
  return nowMs + config.tokens.refreshLifetimeMs;
}
