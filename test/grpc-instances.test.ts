/**
 * Several instances and restarts: two instances on one PostgreSQL and Redis behave
 * as one service; a restart keeps users and tokens; the in-process store refuses a
 * second instance; a flushed Redis never brings a revoked token back.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code } from "@connectrpc/connect";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { openIdentity } from "../src/library.js";
import { InstanceLockError } from "../src/store/instance-lock.js";
import { bearer, failure, freshStores, loginUser, OtpPurpose, registerUser, startService, twoInstances, type Service, type StoreMode, type Stores, type TwoInstances } from "./support/grpc-harness.js";
import type { SmsInbox } from "./support/sms-inbox.js";
import { realStoresAvailable } from "./support/services.js";
import { deleteKeysUnder, jwtPayload, sharedRedis, redisKeyPrefixOf } from "./support/tools.js";
import { freshPhone } from "./support/phones.js";

const modes: StoreMode[] = realStoresAvailable() ? ["real", "embedded"] : ["embedded"];

describe.runIf(realStoresAvailable())("two instances on one PostgreSQL and Redis", () => {
  let pair: TwoInstances;
  let inbox: SmsInbox;
  let a: Service;
  let b: Service;

  beforeAll(async () => {
    pair = await twoInstances({ OTP_RESEND_INTERVAL: "60s" });
    ({ a, b, inbox } = pair);
  });
  afterAll(async () => {
    await pair?.close();
  });

  it("migrated the shared database once, though both started at the same moment", async () => {
    const rows = await a.app.db.query<{ version: number }>("SELECT version FROM schema_migrations ORDER BY version");
    expect(rows.map((r) => r.version)).toEqual([...new Set(rows.map((r) => r.version))]);
    expect(rows.length).toBeGreaterThan(0);
  });

  it("lets a code sent through one instance register through the other", async () => {
    const phone = freshPhone().e164;
    await a.auth.sendOtp({ phone, purpose: OtpPurpose.REGISTER });
    const { user, tokens } = await b.auth.register({ phone, code: inbox.codeFor(phone, "register"), firstName: "Ali", lastName: "" });
    expect(user!.phone).toBe(phone);
    expect(await a.token.verify({ token: tokens!.access })).toMatchObject({ valid: true });
  });

  it("refuses on B, at once, the tokens of a session logged out on A", async () => {
    const { tokens } = await registerUser(a);
    expect(await b.token.verify({ token: tokens.access })).toMatchObject({ valid: true });
    await a.auth.logout({ refresh: tokens.refresh });
    expect(await b.token.verify({ token: tokens.access })).toMatchObject({ valid: false, reason: "session_revoked" });
    expect(await failure(b.auth.getProfile({}, bearer(tokens.access)))).toMatchObject({ code: Code.PermissionDenied, reason: "session_revoked" });
    expect(await failure(b.token.refresh({ refresh: tokens.refresh }))).toMatchObject({ code: Code.PermissionDenied, reason: "session_revoked" });
  });

  it("refuses on A, at once, every session of a user logged out everywhere on B", async () => {
    const { phone, tokens: first } = await registerUser(a);
    const { tokens: second } = await loginUser(b, phone);
    expect(await a.token.verify({ token: second.access })).toMatchObject({ valid: true });
    expect((await b.auth.logoutAll({}, bearer(first.access))).revoked).toBe(2);
    for (const t of [first, second]) expect(await a.token.verify({ token: t.access })).toMatchObject({ valid: false, reason: "session_revoked" });
  });

  it("shares the send limits: the resend interval started on A refuses on B", async () => {
    const phone = freshPhone().e164;
    await a.auth.sendOtp({ phone, purpose: OtpPurpose.REGISTER });
    expect(await failure(b.auth.sendOtp({ phone, purpose: OtpPurpose.REGISTER }))).toMatchObject({ code: Code.ResourceExhausted, reason: "rate_limited" });
  });

  it("shares the attempt count of a code: wrong guesses on A and B together reach the cap", async () => {
    const phone = freshPhone().e164;
    await a.auth.sendOtp({ phone, purpose: OtpPurpose.REGISTER });
    const code = inbox.codeFor(phone, "register");
    const bad = `${(Number(code[0]) + 1) % 10}${code.slice(1)}`;
    const reasons: string[] = [];
    for (const service of [a, b, a, b, a]) reasons.push((await failure(service.auth.register({ phone, code: bad, firstName: "", lastName: "" }))).reason);
    expect(reasons).toEqual(["otp_invalid", "otp_invalid", "otp_invalid", "otp_invalid", "otp_attempts_exceeded"]);
    expect(await failure(b.auth.register({ phone, code, firstName: "", lastName: "" }))).toMatchObject({ reason: "otp_attempts_exceeded" });
  });

  it("shows on B, at once, a profile changed on A, though B holds a copy of it", async () => {
    const { tokens } = await registerUser(a);
    expect((await b.auth.getProfile({}, bearer(tokens.access))).user).toMatchObject({ firstName: "Sara" });
    await a.auth.updateProfile({ firstName: "Mina" }, bearer(tokens.access));
    expect((await b.auth.getProfile({}, bearer(tokens.access))).user).toMatchObject({ firstName: "Mina" });
  });

  it("shows on A, at once, the last_login moved by a login on B, though A holds a copy of the profile", async () => {
    const { phone, tokens } = await registerUser(a);
    const before = (await a.auth.getProfile({}, bearer(tokens.access))).user!.lastLogin!;
    await new Promise((resolve) => setTimeout(resolve, 5));
    await loginUser(b, phone);
    const after = (await a.auth.getProfile({}, bearer(tokens.access))).user!.lastLogin!;
    expect(Number(after.seconds) * 1000 + after.nanos / 1e6).toBeGreaterThan(Number(before.seconds) * 1000 + before.nanos / 1e6);
  });

  it("shows on A, at once, the last_login moved by the library's createTokensForUser, though A holds a copy of the profile", async () => {
    const { user, tokens } = await registerUser(a);
    const before = (await a.auth.getProfile({}, bearer(tokens.access))).user!.lastLogin!;
    await new Promise((resolve) => setTimeout(resolve, 5));
    const library = await openIdentity({ config: b.config });
    try {
      await library.createTokensForUser({ id: user.id });
    } finally {
      await library.close();
    }
    const after = (await a.auth.getProfile({}, bearer(tokens.access))).user!.lastLogin!;
    expect(Number(after.seconds) * 1000 + after.nanos / 1e6).toBeGreaterThan(Number(before.seconds) * 1000 + before.nanos / 1e6);
  });

  it("answers 20 concurrent refreshes of one token, split across A and B, with one successor and one live refresh token", async () => {
    const { tokens } = await registerUser(a);
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).token.refresh({ refresh: tokens.refresh })));
    expect(results.filter((r) => r.status === "rejected")).toEqual([]);
    const jtis = new Set(results.map((r) => jwtPayload((r as PromiseFulfilledResult<{ tokens?: { refresh: string } }>).value.tokens!.refresh).jti));
    expect(jtis.size).toBe(1);
    const sid = jwtPayload(tokens.refresh).sid as string;
    const live = await a.app.db.query<{ jti: string }>("SELECT jti FROM outstanding_tokens WHERE session_id = $1 AND replaced_by IS NULL", [sid]);
    expect(live.map((r) => r.jti)).toEqual([...jtis]);
    const session = await a.app.db.query<{ current_refresh_jti: string }>("SELECT current_refresh_jti FROM sessions WHERE id = $1", [sid]);
    expect(session[0]!.current_refresh_jti).toBe([...jtis][0]);
  });
});

describe.each(modes)("a restart (%s stores)", (mode) => {
  let stores: Stores;
  let keysDir: string;
  const running: Service[] = [];
  beforeAll(async () => {
    stores = await freshStores(mode);
    keysDir = stores.env.DATA_DIR ?? (await mkdtemp(join(tmpdir(), "identity-keys-")));
  });
  afterAll(async () => {
    for (const service of running.splice(0)) await service.stop();
    await stores?.drop();
    await rm(keysDir, { recursive: true, force: true });
  });

  it("keeps users and keeps issued tokens valid: the development key persists under DATA_DIR", async () => {
    const env = { DATA_DIR: keysDir };
    const first = await startService(stores, { env });
    running.push(first);
    const { phone, user, tokens } = await registerUser(first);
    await first.stop();
    running.pop();
    expect(existsSync(join(keysDir, "keys"))).toBe(true);

    const second = await startService(stores, { env });
    running.push(second);
    expect(await second.token.verify({ token: tokens.access })).toMatchObject({ valid: true, user: { id: user.id, phone } });
    const refreshed = (await second.token.refresh({ refresh: tokens.refresh })).tokens!;
    expect(await second.token.verify({ token: refreshed.access })).toMatchObject({ valid: true });
    const { user: again } = await loginUser(second, phone);
    expect(again.id).toBe(user.id);
    expect(await failure(second.auth.sendOtp({ phone, purpose: OtpPurpose.REGISTER }))).toMatchObject({ reason: "phone_already_registered" });
  });
});

describe("the in-process store serves one process", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it("refuses a second embedded instance on the same DATA_DIR (InstanceLockError), in this process or another", async () => {
    const stores = await freshStores("embedded");
    cleanups.push(() => stores.drop());
    const first = await startService(stores);
    cleanups.push(() => first.stop());
    await expect(startService(stores, { sms: first.sms })).rejects.toBeInstanceOf(InstanceLockError);

    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      env: { ...process.env, DATA_DIR: stores.env.DATA_DIR!, GRPC_PORT: "0", HTTP_PORT: "0", METRICS_PORT: "0", SERVICE_ROLE: "grpc", LOG_LEVEL: "silent", NODE_ENV: "" },
      cwd: process.cwd(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const [exitCode] = (await once(child, "exit")) as [number | null];
    expect(exitCode).not.toBe(0);
    expect(stderr).toMatch(/DATA_DIR .* in use by process \d+/);

    // The first instance still serves.
    expect((await registerUser(first)).user.id).not.toBe("");
    // Once it stops, the directory is free again.
    await first.stop();
    cleanups.pop();
    const next = await startService(stores);
    cleanups.push(() => next.stop());
  }, 60_000); // a child process compiling src/main.ts is slow on a busy machine

  describe.runIf(realStoresAvailable())("one PostgreSQL database: Redis-backed instances, or one in-process instance, never both", () => {
    async function sharedDatabase() {
      const stores = await freshStores("real");
      const keysDir = await mkdtemp(join(tmpdir(), "identity-keys-"));
      cleanups.push(() => stores.drop(), () => rm(keysDir, { recursive: true, force: true }));
      // One DATA_DIR for the development key, as a deployment shares JWT_SIGNING_KEY.
      const withRedis = { DATA_DIR: keysDir };
      const inProcess = { DATA_DIR: keysDir, REDIS_URL: "" };
      const libraryConfig = (env: Record<string, string>) => loadConfig({ ...stores.env, ...env, LOG_LEVEL: "silent" });
      return { stores, withRedis, inProcess, libraryConfig };
    }

    it("refuses an in-process instance (service or library) beside Redis-backed ones, whose logouts it could not see", async () => {
      const { stores, withRedis, inProcess, libraryConfig } = await sharedDatabase();
      const a = await startService(stores, { env: withRedis });
      cleanups.push(() => a.stop());
      const b = await startService(stores, { env: withRedis, sms: a.sms });
      cleanups.push(() => b.stop());

      const refused = startService(stores, { env: inProcess, sms: a.sms });
      await expect(refused).rejects.toBeInstanceOf(InstanceLockError);
      await expect(refused).rejects.toThrow("instances with Redis run on this database; set REDIS_URL");
      await expect(openIdentity({ config: libraryConfig(inProcess) })).rejects.toBeInstanceOf(InstanceLockError);

      // The process says so in one line and exits.
      const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
        env: { ...process.env, ...stores.env, ...inProcess, GRPC_PORT: "0", HTTP_PORT: "0", METRICS_PORT: "0", SERVICE_ROLE: "grpc", LOG_LEVEL: "silent", NODE_ENV: "" },
        cwd: process.cwd(),
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stderr = "";
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      const [exitCode] = (await once(child, "exit")) as [number | null];
      expect(exitCode).toBe(1);
      expect(stderr).toMatch(/^identity: cannot start: instances with Redis run on this database; [^\n]*\n$/);

      // A logout on the Redis-backed instances is seen by both, and by the library on Redis.
      const { tokens } = await registerUser(a);
      await a.auth.logout({ refresh: tokens.refresh });
      expect(await b.token.verify({ token: tokens.access })).toMatchObject({ valid: false, reason: "session_revoked" });
      const library = await openIdentity({ config: libraryConfig(withRedis) });
      cleanups.push(() => library.close());
      expect(await library.verifyToken(tokens.access)).toEqual({ valid: false, error: "session_revoked" });
    }, 60_000); // a child process compiling src/main.ts is slow on a busy machine

    it("refuses Redis-backed instances (service or library) beside an in-process one, until it stops", async () => {
      const { stores, withRedis, inProcess, libraryConfig } = await sharedDatabase();
      const first = await startService(stores, { env: inProcess });
      const refused = startService(stores, { env: withRedis, sms: first.sms });
      await expect(refused).rejects.toBeInstanceOf(InstanceLockError);
      await expect(refused).rejects.toThrow("an instance with the in-process store (no REDIS_URL) runs on this database");
      await expect(openIdentity({ config: libraryConfig(withRedis) })).rejects.toBeInstanceOf(InstanceLockError);
      expect((await registerUser(first)).user.id).not.toBe(""); // the first still serves
      await first.stop();

      const next = await startService(stores, { env: withRedis });
      cleanups.push(() => next.stop());
    });

    it("lets migrate and flush-expired run beside instances of either mode", async () => {
      const { stores, inProcess } = await sharedDatabase();
      const first = await startService(stores, { env: inProcess });
      cleanups.push(() => first.stop());
      for (const command of ["src/cli/migrate.ts", "src/cli/flush-expired.ts"]) {
        const child = spawn(process.execPath, ["--import", "tsx", command], {
          env: { ...process.env, ...stores.env, ...inProcess, LOG_LEVEL: "silent" },
          cwd: process.cwd(),
          stdio: ["ignore", "ignore", "pipe"],
        });
        let stderr = "";
        child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
        const [exitCode] = (await once(child, "exit")) as [number | null];
        expect({ command, exitCode, stderr }).toEqual({ command, exitCode: 0, stderr: "" });
      }
    }, 60_000);
  });

  it.runIf(realStoresAvailable())("refuses a second instance on one PostgreSQL database without REDIS_URL", async () => {
    const stores = await freshStores("real");
    cleanups.push(() => stores.drop());
    const keysDir = await mkdtemp(join(tmpdir(), "identity-keys-"));
    cleanups.push(() => rm(keysDir, { recursive: true, force: true }));
    const env = { REDIS_URL: "", DATA_DIR: keysDir };
    const first = await startService(stores, { env });
    try {
      await expect(startService(stores, { env, sms: first.sms })).rejects.toBeInstanceOf(InstanceLockError);
    } finally {
      await first.stop();
    }
    // The lock goes with the instance.
    const next = await startService(stores, { env });
    await next.stop();
  });
});

describe.runIf(realStoresAvailable())("revocation after a Redis flush", () => {
  let stores: Stores;
  let service: Service;
  beforeAll(async () => {
    stores = await freshStores("real");
    service = await startService(stores);
  });
  afterAll(async () => {
    await service?.stop();
    await stores?.drop();
  });

  async function flushOurKeys(): Promise<void> {
    const redis = sharedRedis();
    try {
      // Only this suite's keys: SCAN + DEL under its prefix, never FLUSHALL.
      expect(await deleteKeysUnder(redis, redisKeyPrefixOf(service.config))).toBeGreaterThan(0);
    } finally {
      redis.disconnect();
    }
  }

  it("keeps a logged-out session's access token refused (read through from PostgreSQL), and a live one valid", async () => {
    const { tokens: revoked } = await registerUser(service);
    const { tokens: live } = await registerUser(service);
    await service.auth.logout({ refresh: revoked.refresh });
    expect(await service.token.verify({ token: revoked.access })).toMatchObject({ valid: false, reason: "session_revoked" });
    await flushOurKeys();
    expect(await service.token.verify({ token: revoked.access })).toMatchObject({ valid: false, reason: "session_revoked" });
    expect(await failure(service.auth.getProfile({}, bearer(revoked.access)))).toMatchObject({ code: Code.PermissionDenied, reason: "session_revoked" });
    expect(await service.token.introspect({ token: revoked.access })).toMatchObject({ active: false });
    expect(await service.token.verify({ token: live.access })).toMatchObject({ valid: true });
  });

  it("keeps every session of a user logged out everywhere refused after the flush", async () => {
    const { phone, tokens: first } = await registerUser(service);
    const { tokens: second } = await loginUser(service, phone);
    await service.auth.logoutAll({}, bearer(first.access));
    await flushOurKeys();
    for (const t of [first, second]) {
      expect(await service.token.verify({ token: t.access })).toMatchObject({ valid: false, reason: "session_revoked" });
      expect(await failure(service.token.refresh({ refresh: t.refresh }))).toMatchObject({ code: Code.PermissionDenied });
    }
    const { tokens: fresh } = await loginUser(service, phone);
    expect(await service.token.verify({ token: fresh.access })).toMatchObject({ valid: true });
  });

  it("keeps a session revoked for refresh-token reuse refused after the flush", async () => {
    const service0 = await startService(stores, { env: { REFRESH_REUSE_INTERVAL: "0s" } });
    try {
      const { tokens } = await registerUser(service0);
      const next = (await service0.token.refresh({ refresh: tokens.refresh })).tokens!;
      expect(await failure(service0.token.refresh({ refresh: tokens.refresh }))).toMatchObject({ reason: "token_blacklisted" });
      const redis = sharedRedis();
      try {
        await deleteKeysUnder(redis, redisKeyPrefixOf(service0.config));
      } finally {
        redis.disconnect();
      }
      expect(await service0.token.verify({ token: next.access })).toMatchObject({ valid: false, reason: "session_revoked" });
    } finally {
      await service0.stop();
    }
  });
});
