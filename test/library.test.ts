/** The package surface for TypeScript backends: helpers in-process, and the typed gRPC client. */
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppError, ConfigError, createIdentityClient, openIdentity, type IdentityLibrary } from "../src/index.js";
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

  it("refuses a malformed user id with validation_error, an unknown one with phone_not_registered", async () => {
    const refusal = await library.createTokensForUser({ id: "not-a-uuid" }).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(AppError);
    expect(refusal).toMatchObject({ reason: "validation_error", field: "id" });
    await expect(library.createTokensForUser({ id: randomUUID() })).rejects.toMatchObject({ name: "AppError", reason: "phone_not_registered" });
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

describe.runIf(realStoresAvailable())("the library and the service's development key", () => {
  let stores: Stores;
  let dataDir: string;
  let service: Service;
  let library: IdentityLibrary;

  beforeAll(async () => {
    stores = await freshStores("real");
    // Shared PostgreSQL and Redis; DATA_DIR only holds the key the service makes.
    dataDir = await mkdtemp(join(tmpdir(), "identity-library-keys-"));
    service = await startService(stores, { env: { DATA_DIR: dataDir } });
    library = await openIdentity({ config: loadConfig({ ...stores.env, DATA_DIR: dataDir, LOG_LEVEL: "silent" }) });
  });
  afterAll(async () => {
    await library?.close();
    await service?.stop();
    await stores?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("verifies the service's tokens, and the service accepts the library's", async () => {
    expect(await readdir(join(dataDir, "keys"))).toHaveLength(1); // the key the service made
    const { user, tokens } = await registerUser(service);
    expect(await library.verifyToken(tokens.access)).toMatchObject({ valid: true, user: { id: user.id } });
    const issued = await library.createTokensForUser({ id: user.id });
    expect(await service.token.verify({ token: issued.access })).toMatchObject({ valid: true, user: { id: user.id } });
  });

  it("without JWT_SIGNING_KEY or a service's key, refuses to open and writes nothing", async () => {
    const empty = await mkdtemp(join(tmpdir(), "identity-library-nokey-"));
    try {
      const missing = join(empty, "data");
      const refusal = await openIdentity({ config: loadConfig({ DATA_DIR: missing, LOG_LEVEL: "silent" }) }).catch((error: unknown) => error);
      expect(refusal).toBeInstanceOf(ConfigError);
      expect(refusal).toMatchObject({ variable: "JWT_SIGNING_KEY" });
      expect(String(refusal)).toMatch(/JWT_SIGNING_KEY: is not set and the service has made no development key under DATA_DIR/);
      expect(existsSync(missing)).toBe(false);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});
