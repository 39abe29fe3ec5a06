/**
 * The service as a library, for TypeScript backends that embed it (the seed
 * system's Python helpers): the same domain, no server.
 */
import { createIdentity, type BuildOptions } from "./app.js";
import { loadConfig, type Config } from "./config.js";
import type { Reason } from "./core/errors.js";
import { refreshSession } from "./core/sessions/refresh.js";
import { startSessionForUser } from "./core/sessions/for-user.js";
import { verifyAccess } from "./core/tokens/authenticate.js";
import type { TokenClaims, TokenUser } from "./core/tokens/claims.js";
import type { TokenPair } from "./core/tokens/issue.js";
import { withServiceKey } from "./store/dev-keys.js";

export type VerifyResult = { valid: true; user: TokenUser; claims: TokenClaims } | { valid: false; error: Reason };

export interface IdentityLibrary {
  /** A new session (and token pair) for an existing, active user. */
  createTokensForUser(user: { id: string }): Promise<TokenPair>;
  /** Validates an access token and its session; a bad token is an answer, not a throw. */
  verifyToken(token: string): Promise<VerifyResult>;
  /** Rotates a refresh token (reuse detection included). Throws AppError when refused. */
  refreshAccessToken(refresh: string): Promise<TokenPair>;
  readonly config: Config;
  close(): Promise<void>;
}

/**
 * Opens the service's stores with the service's configuration and signing key.
 * Throws `ConfigError` (JWT_SIGNING_KEY) when there is no key to share, before
 * anything is opened or written.
 */
export async function openIdentity(options: BuildOptions & { config?: Config } = {}): Promise<IdentityLibrary> {
  const config = options.config ?? loadConfig();
  const identity = await createIdentity(await withServiceKey(config), options);
  const { deps } = identity;
  return {
    config,
    createTokensForUser: (user) => startSessionForUser(deps, user.id),
    async verifyToken(token) {
      const verdict = await verifyAccess(deps, token);
      return verdict.valid ? { valid: true, user: verdict.user, claims: verdict.claims } : { valid: false, error: verdict.reason };
    },
    refreshAccessToken: (refresh) => refreshSession(deps, refresh),
    close: () => identity.close(),
  };
}

