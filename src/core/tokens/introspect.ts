/**
 * RFC 7662 introspection, for services holding a key: either token type; any bad
 * token is only `active: false`.
 */
import { AppError } from "../errors.js";
import type { CoreDeps } from "../deps.js";
import { liveRefreshToken } from "../sessions/liveness.js";
import { checkToken } from "./authenticate.js";
import type { TokenClaims, TokenType } from "./claims.js";

export type Introspection = { active: false } | { active: true; claims: TokenClaims };

export interface IntrospectRequest {
  token: string;
  /** `access_token` or `refresh_token`: which type to try first. */
  hint: string;
  /** The calling service's key (`x-api-key`), checked before anything else. */
  serviceKey: string | undefined;
}

export async function introspect(deps: CoreDeps, { token, hint, serviceKey }: IntrospectRequest): Promise<Introspection> {
  deps.serviceKeys(serviceKey);
  // The hint only orders the attempts (RFC 7662 §2.1); both types are tried.
  const order: TokenType[] = hint === "refresh_token" ? ["refresh", "access"] : ["access", "refresh"];
  for (const type of order) {
    try {
      const claims = await checkToken(deps, token, type);
      if (type === "refresh" && (await liveRefreshToken(deps, claims.jti)) === undefined) return { active: false };
      return { active: true, claims };
    } catch (error) {
      if (error instanceof AppError && error.reason === "token_wrong_type") continue;
      if (error instanceof AppError) return { active: false };
      throw error;
    }
  }
  return { active: false };
}
