/** The package surface for TypeScript backends: helpers in-process, and the typed gRPC client. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createIdentityClient, openIdentity, type IdentityLibrary } from "../src/index.js";
import { loadConfig } from "../src/config.js";
import { freshStores, registerUser, startService, type Service, type Stores } from "./support/grpc-harness.js";
import { realStoresAvailable } from "./support/services.js";

describe.runIf(realStoresAvailable())("the library surface", () => {
  let stores: Stores;
  let service: Service;
  let library: IdentityLibrary;
  const apiKey = "k".repeat(32);
  const signingKey = "library-test-secret-of-at-least-32-bytes!";

  beforeAll(async () => {
    stores = await freshStores("real");
    const env = { JWT_ALGORITHM: "HS256", JWT_SIGNING_KEY: signingKey, SERVICE_API_KEYS: `billing:${apiKey}` };
    service = await startService(stores, { env });
    library = await openIdentity({
      config: loadConfig({ ...stores.env, ...env, LOG_LEVEL: "silent" }),
      extraClaims: (user) => ({ tenant: "acme", is_staff: true, phone_suffix: user.phone.slice(-4) }),
    });
  });
  afterAll(async () => {
    await library?.close();
    await service?.stop();
    await stores?.drop();
  });

  it("creates tokens for an existing user, with the deployment's extra claims", async () => {
    const { user } = await registerUser(service);
    const tokens = await library.createTokensForUser({ id: user.id });
    const result = await library.verifyToken(tokens.access);
    expect(result.valid).toBe(true);
    if (!result.valid) return;
    expect(result.user).toMatchObject({ id: user.id, phone: user.phone, is_staff: false });
    expect(result.claims.tenant).toBe("acme");
    expect(result.claims.phone_suffix).toBe(user.phone.slice(-4));
    // The server shares the stores and the key: the same token verifies over gRPC.
    expect((await service.token.verify({ token: tokens.access })).valid).toBe(true);
  });

  it("answers a bad token with valid=false and the reason", async () => {
    expect(await library.verifyToken("nope")).toEqual({ valid: false, error: "token_not_valid" });
    const { tokens } = await registerUser(service);
    expect(await library.verifyToken(tokens.refresh)).toEqual({ valid: false, error: "token_wrong_type" });
  });

  it("refreshes an access token, rotating the refresh token", async () => {
    const { tokens } = await registerUser(service);
    const next = await library.refreshAccessToken(tokens.refresh);
    expect(next.refresh).not.toBe(tokens.refresh);
    expect((await library.verifyToken(next.access)).valid).toBe(true);
  });

  it("gives other services a typed gRPC client for verify and introspect", async () => {
    const { user, tokens } = await registerUser(service);
    const client = createIdentityClient({ baseUrl: `http://127.0.0.1:${service.port}`, apiKey });
    expect(await client.verify(tokens.access)).toMatchObject({ valid: true, user: { id: user.id } });
    expect(await client.introspect(tokens.access)).toMatchObject({ active: true, sub: user.id, tokenType: "access" });
    const keyless = createIdentityClient({ baseUrl: `http://127.0.0.1:${service.port}` });
    await expect(keyless.introspect(tokens.access)).rejects.toThrow(/unauthenticated/i);
  });
});
