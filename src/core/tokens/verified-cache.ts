/**
 * Access tokens already verified, by their exact text: a backend asks about the
 * same token on every request its user makes, and the signature check is most of
 * Verify's cost. An entry only ever answers for a byte-identical token, dies at the
 * token's `exp` (the full check then runs again and gives the precise reason), and
 * the map is bounded (oldest entries go first). Session state is never cached here.
 */
import type { TokenClaims } from "./claims.js";

export interface VerifiedTokenCache {
  get(token: string, nowMs: number): TokenClaims | undefined;
  set(token: string, claims: TokenClaims): void;
}

export function createVerifiedTokenCache(maxEntries = 20_000): VerifiedTokenCache {
  const entries = new Map<string, TokenClaims>();
  return {
    get(token, nowMs) {
      const claims = entries.get(token);
      if (claims === undefined) return undefined;
      if (claims.exp * 1000 <= nowMs) {
        entries.delete(token);
        return undefined;
      }
      return claims;
    },
    set(token, claims) {
      if (entries.size >= maxEntries) entries.delete(entries.keys().next().value!);
      entries.set(token, claims);
    },
  };
}
