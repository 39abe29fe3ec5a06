/**
 * Introspect and the service keys that guard it (SERVICE_API_KEYS, `x-api-key`),
 * through a real gRPC client on both store modes.
 */
import { Code } from "@connectrpc/connect";
import { afterAll, describe, expect, it } from "vitest";
import { bearer, failure, registerUser, type StoreMode } from "./support/grpc-harness.js";
import { realStoresAvailable } from "./support/services.js";
import { lab, movableClock } from "./support/tools.js";

const modes: StoreMode[] = realStoresAvailable() ? ["real", "embedded"] : ["embedded"];
const BILLING_KEY = "b1ll1ng-k3y-0123456789abcdefABCDEF";
const SEARCH_KEY = "s3arch-k3y-0123456789abcdefABCDEFG";
const apiKey = (key: string) => ({ headers: { "x-api-key": key } });

describe.each(modes)("Introspect over gRPC (%s stores)", (mode) => {
  const clock = movableClock();
  const stores = lab(mode, { clock });
  afterAll(() => stores.close());

  describe("with SERVICE_API_KEYS set", () => {
    const env = { SERVICE_API_KEYS: `billing:${BILLING_KEY},search:${SEARCH_KEY}` };

    it("refuses a call without x-api-key (UNAUTHENTICATED not_authenticated)", async () => {
      const service = await stores.service(env);
      const { tokens } = await registerUser(service);
      expect(await failure(service.token.introspect({ token: tokens.access }))).toMatchObject({ code: Code.Unauthenticated, reason: "not_authenticated" });
      // A user's Bearer token is not a service key.
      expect(await failure(service.token.introspect({ token: tokens.access }, bearer(tokens.access)))).toMatchObject({ code: Code.Unauthenticated, reason: "not_authenticated" });
    });

    it("refuses a wrong key: another value, the service's name, a key with something appended, an empty one", async () => {
      const service = await stores.service(env);
      const { tokens } = await registerUser(service);
      for (const key of ["x".repeat(BILLING_KEY.length), "billing", `${BILLING_KEY}x`, `billing:${BILLING_KEY}`, BILLING_KEY.slice(0, -1), ""]) {
        expect(await failure(service.token.introspect({ token: tokens.access }, apiKey(key)))).toMatchObject({ code: Code.Unauthenticated, reason: "not_authenticated" });
      }
    });

    it("answers a caller with any configured key", async () => {
      const service = await stores.service(env);
      const { user, tokens } = await registerUser(service);
      for (const key of [BILLING_KEY, SEARCH_KEY]) {
        expect(await service.token.introspect({ token: tokens.access }, apiKey(key))).toMatchObject({ active: true, sub: user.id, tokenType: "access", username: user.phone });
      }
      // A bad token is an answer (active=false), not an error.
      expect(await service.token.introspect({ token: "garbage" }, apiKey(BILLING_KEY))).toMatchObject({ active: false, sub: "" });
    });

    it("leaves Verify open: only Introspect needs a service key", async () => {
      const service = await stores.service(env);
      const { tokens } = await registerUser(service);
      expect(await service.token.verify({ token: tokens.access })).toMatchObject({ valid: true });
    });
  });

  describe("without SERVICE_API_KEYS (development)", () => {
    it("is open", async () => {
      const service = await stores.service();
      const { tokens } = await registerUser(service);
      expect(await service.token.introspect({ token: tokens.access })).toMatchObject({ active: true });
      expect(await service.token.introspect({ token: tokens.access }, apiKey("anything"))).toMatchObject({ active: true });
    });

    it("answers only active=false for a revoked session's tokens, an expired token and a refresh token presented as access or refresh after logout", async () => {
      const service = await stores.service();
      const { tokens } = await registerUser(service);
      expect(await service.token.introspect({ token: tokens.refresh, tokenTypeHint: "refresh_token" })).toMatchObject({ active: true, tokenType: "refresh" });
      // The hint only orders the attempts: a wrong hint still finds the type.
      expect(await service.token.introspect({ token: tokens.refresh, tokenTypeHint: "access_token" })).toMatchObject({ active: true, tokenType: "refresh" });
      await service.auth.logout({ refresh: tokens.refresh });
      for (const token of [tokens.access, tokens.refresh]) {
        const answer = await service.token.introspect({ token });
        expect(answer).toMatchObject({ active: false, sub: "", jti: "", tokenType: "", username: "" });
        expect(answer.exp).toBe(0n);
      }
      const { tokens: live } = await registerUser(service);
      clock.advance(60 * 60_000 + 1_000);
      expect(await service.token.introspect({ token: live.access })).toMatchObject({ active: false });
      expect(await service.token.introspect({ token: live.refresh })).toMatchObject({ active: true, tokenType: "refresh" });
    });
  });
});
