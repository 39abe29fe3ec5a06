/**
 * The verified-token cache: an entry answers only for its exact token, only
 * before the token's exp, and the oldest entries go first when it is full.
 */
import { describe, expect, it } from "vitest";
import type { TokenClaims } from "../../../src/core/tokens/claims.js";
import { createVerifiedTokenCache } from "../../../src/core/tokens/verified-cache.js";

const EXP_S = 1_767_272_400;
const claims = (jti: string, exp = EXP_S): TokenClaims => ({
  token_type: "access", exp, iat: exp - 3600, jti, sub: "u", user_id: "u", sid: "s", phone: "p", first_name: "a", last_name: "b", is_staff: false,
});

describe("createVerifiedTokenCache", () => {
  it("answers the claims set for a token until the instant before its exp", () => {
    const cache = createVerifiedTokenCache();
    const entry = claims("a");
    cache.set("token-a", entry);
    expect(cache.get("token-a", EXP_S * 1000 - 3_600_000)).toBe(entry);
    expect(cache.get("token-a", EXP_S * 1000 - 1)).toBe(entry);
  });

  it("answers nothing for another token, even one differing by a character", () => {
    const cache = createVerifiedTokenCache();
    cache.set("token-a", claims("a"));
    expect(cache.get("token-b", 0)).toBeUndefined();
    expect(cache.get("token-a ", 0)).toBeUndefined();
  });

  it("answers nothing at or past exp, and drops the entry", () => {
    const cache = createVerifiedTokenCache();
    cache.set("token-a", claims("a"));
    expect(cache.get("token-a", EXP_S * 1000)).toBeUndefined();
    // Gone: a clock read earlier after that does not bring it back.
    expect(cache.get("token-a", EXP_S * 1000 - 1)).toBeUndefined();
  });

  it("holds at most maxEntries, dropping the oldest first", () => {
    const cache = createVerifiedTokenCache(2);
    cache.set("a", claims("a"));
    cache.set("b", claims("b"));
    expect(cache.get("a", 0)?.jti).toBe("a");
    cache.set("c", claims("c"));
    expect(cache.get("a", 0)).toBeUndefined();
    expect(cache.get("b", 0)?.jti).toBe("b");
    expect(cache.get("c", 0)?.jti).toBe("c");
    cache.set("d", claims("d"));
    expect(cache.get("b", 0)).toBeUndefined();
    expect(cache.get("c", 0)?.jti).toBe("c");
    expect(cache.get("d", 0)?.jti).toBe("d");
  });

  it("holds 20,000 entries by default", () => {
    const cache = createVerifiedTokenCache();
    for (let i = 0; i < 20_000; i++) cache.set(`t${i}`, claims(`${i}`));
    expect(cache.get("t0", 0)?.jti).toBe("0");
    cache.set("one-more", claims("one-more"));
    expect(cache.get("t0", 0)).toBeUndefined();
    expect(cache.get("t1", 0)?.jti).toBe("1");
    expect(cache.get("one-more", 0)?.jti).toBe("one-more");
  });
});
