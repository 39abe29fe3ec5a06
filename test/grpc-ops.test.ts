/**
 * What operators see: reflection and `buf curl`, grpc.health.v1, failing closed
 * when Redis or PostgreSQL stops answering (and recovering by itself), and error
 * messages that never carry internals.
 */
import { execFile } from "node:child_process";
import net from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { Code, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../gen/grpc/health/v1/health_pb.js";
import { bearer, failure, freshStores, newPhone, OtpPurpose, registerUser, startService, type Service, type StoreMode, type Stores } from "./support/grpc-harness.js";
import { freshDatabase, freshKeyPrefix, POSTGRES_ADMIN_URL, realStoresAvailable, REDIS_URL } from "./support/services.js";
import { deleteKeysUnder, eventually, freePort, redisChild, sharedRedis, type RedisChild } from "./support/tools.js";

const run = promisify(execFile);
const BUF = join(process.cwd(), "node_modules", ".bin", "buf");
const modes: StoreMode[] = realStoresAvailable() ? ["real", "embedded"] : ["embedded"];

/** `buf curl` over gRPC with HTTP/2 prior knowledge; never throws, returns what it printed. */
async function bufCurl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(BUF, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...args], { timeout: 15_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

function healthOf(service: Service): Client<typeof Health> {
  return createClient(Health, createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.port}` }));
}

const english = { headers: { "accept-language": "en" } };
const GENERIC_UNAVAILABLE = "The service is temporarily unavailable. Please try again shortly.";
const GENERIC_INTERNAL = "An internal error occurred.";

/** Nothing a caller should ever read in a status message. */
function expectNoInternals(message: string): void {
  expect(message).not.toMatch(/\bat .+:\d+:\d+|\n/); // stack frames
  expect(message).not.toMatch(/SELECT|INSERT|UPDATE|DELETE|relation|column|syntax/i); // SQL
  expect(message).not.toMatch(/127\.0\.0\.1|localhost|::1|:\d{2,5}\b/); // hosts and ports
  expect(message).not.toMatch(/ECONN|redis|postgres|pg_|ioredis|PGlite/i); // drivers
}

describe.each(modes)("reflection, health and buf curl (%s stores)", (mode) => {
  let stores: Stores;
  let service: Service;
  let url: string;
  beforeAll(async () => {
    stores = await freshStores(mode);
    service = await startService(stores);
    url = `http://127.0.0.1:${service.port}`;
  });
  afterAll(async () => {
    await service?.stop();
    await stores?.drop();
  });

  it("lists AuthService, TokenService and Health through server reflection", async () => {
    const listed = await bufCurl(["--list-services", url]);
    expect(listed.code).toBe(0);
    expect(listed.stdout.split("\n")).toEqual(expect.arrayContaining(["identity.v1.AuthService", "identity.v1.TokenService", "grpc.health.v1.Health"]));
  });

  it("lists every RPC of the contract through server reflection", async () => {
    const listed = await bufCurl(["--list-methods", url]);
    expect(listed.code).toBe(0);
    const methods = listed.stdout.split("\n");
    for (const m of ["SendOtp", "Register", "Login", "Logout", "LogoutAll", "GetProfile", "UpdateProfile"]) expect(methods).toContain(`identity.v1.AuthService/${m}`);
    for (const m of ["Refresh", "Verify", "Introspect", "GetJwks"]) expect(methods).toContain(`identity.v1.TokenService/${m}`);
  });

  it("answers buf curl's Verify of a bad token with reason token_not_valid", async () => {
    const verified = await bufCurl(["-d", '{"token":"x"}', `${url}/identity.v1.TokenService/Verify`]);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toContain('"reason": "token_not_valid"');
    expect(verified.stdout).not.toContain('"valid": true');
  });

  it("answers buf curl's Verify of a good token with the user, and its errors with the ErrorInfo reason", async () => {
    const { user, tokens } = await registerUser(service);
    const verified = await bufCurl(["-d", JSON.stringify({ token: tokens.access }), `${url}/identity.v1.TokenService/Verify`]);
    expect(JSON.parse(verified.stdout)).toMatchObject({ valid: true, tokenType: "access", user: { id: user.id, phone: user.phone } });

    const refused = await bufCurl(["-d", '{"phone":"12345","purpose":"OTP_PURPOSE_REGISTER"}', `${url}/identity.v1.AuthService/SendOtp`]);
    expect(refused.code).not.toBe(0);
    const printed = JSON.parse(refused.stderr) as { code: string; details: { type: string; value: string }[] };
    expect(printed.code).toBe("invalid_argument");
    expect(printed.details[0]!.type).toBe("google.rpc.ErrorInfo");
    expect(Buffer.from(printed.details[0]!.value, "base64").toString("latin1")).toContain("invalid_phone");
  });

  it("answers grpc.health.v1.Health/Check SERVING for the server and for each service (buf curl and a client)", async () => {
    for (const name of ["", "identity.v1.TokenService", "identity.v1.AuthService"]) {
      const checked = await bufCurl(["-d", JSON.stringify({ service: name }), `${url}/grpc.health.v1.Health/Check`]);
      expect(checked.code).toBe(0);
      expect(JSON.parse(checked.stdout)).toEqual({ status: "SERVING" });
      expect((await healthOf(service).check({ service: name })).status).toBe(ServingStatus.SERVING);
    }
    expect(await failure(healthOf(service).check({ service: "no.such.Service" }))).toMatchObject({ code: Code.NotFound });
  });
});

describe.runIf(realStoresAvailable())("when Redis stops answering", () => {
  let redis: RedisChild;
  let stores: Stores;
  let service: Service;
  beforeAll(async () => {
    // A redis-server of this suite's own: the shared one on 6379 is never stopped.
    redis = await redisChild();
    await redis.start();
    stores = await freshStores("real");
    service = await startService(stores, { env: { REDIS_URL: redis.url } });
  });
  afterAll(async () => {
    await service?.stop();
    await redis?.stop();
    await stores?.drop();
  });

  it("fails closed at once (UNAVAILABLE service_unavailable, never valid=true), says NOT_SERVING, and recovers by itself", async () => {
    const { phone, tokens } = await registerUser(service);
    expect(await service.token.verify({ token: tokens.access })).toMatchObject({ valid: true });
    expect((await healthOf(service).check({ service: "" })).status).toBe(ServingStatus.SERVING);

    await redis.stop();
    const stoppedAt = Date.now();
    // The very first call after the stop is refused: Verify never says valid=true on
    // the signature alone. (The bound is loose only for the round trip on a busy machine.)
    const down = await failure(service.token.verify({ token: tokens.access }, english));
    expect(Date.now() - stoppedAt).toBeLessThan(2_000);
    expect(down).toMatchObject({ code: Code.Unavailable, reason: "service_unavailable", message: GENERIC_UNAVAILABLE });
    expectNoInternals(down.message);
    // (Refresh is decided by PostgreSQL alone, the truth, so it may go on.)
    for (const call of [
      () => service.auth.getProfile({}, bearer(tokens.access)),
      () => service.auth.sendOtp({ phone: newPhone(), purpose: OtpPurpose.REGISTER }, english),
      () => service.token.introspect({ token: tokens.access }),
      () => service.auth.logout({ refresh: tokens.refresh }),
    ]) {
      const refused = await failure(call());
      expect(refused).toMatchObject({ code: Code.Unavailable, reason: "service_unavailable" });
      expectNoInternals(refused.message);
    }
    await eventually(async () => (await healthOf(service).check({ service: "identity.v1.TokenService" })).status === ServingStatus.NOT_SERVING, 3_000);
    expect((await healthOf(service).check({ service: "" })).status).toBe(ServingStatus.NOT_SERVING);

    await redis.start();
    await eventually(async () => (await healthOf(service).check({ service: "" })).status === ServingStatus.SERVING, 5_000);
    await eventually(async () => (await service.token.verify({ token: tokens.access }).catch(() => ({ valid: false }))).valid, 3_000);
    // The restarted Redis is empty: a logout now is still seen (read through from PostgreSQL).
    await service.auth.logout({ refresh: tokens.refresh });
    expect(await service.token.verify({ token: tokens.access })).toMatchObject({ valid: false, reason: "session_revoked" });
    await service.auth.sendOtp({ phone, purpose: OtpPurpose.LOGIN });
  });
});

/** A TCP proxy in front of PostgreSQL, so a test can cut the database off and back on. */
async function postgresProxy(target: { host: string; port: number }) {
  const port = await freePort();
  let server: net.Server | undefined;
  const sockets = new Set<net.Socket>();
  return {
    port,
    async start() {
      server = net.createServer((client) => {
        const upstream = net.connect(target.port, target.host);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on("close", () => sockets.delete(s));
          s.on("error", () => {
            client.destroy();
            upstream.destroy();
          });
        }
        client.pipe(upstream).pipe(client);
      });
      await new Promise<void>((resolve) => server!.listen(port, "127.0.0.1", resolve));
    },
    async stop() {
      const closed = new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

describe.runIf(realStoresAvailable())("when PostgreSQL stops answering", () => {
  let proxy: Awaited<ReturnType<typeof postgresProxy>>;
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  let service: Service;
  beforeAll(async () => {
    const admin = new URL(POSTGRES_ADMIN_URL);
    proxy = await postgresProxy({ host: admin.hostname, port: Number(admin.port || 5432) });
    await proxy.start();
    database = await freshDatabase();
    const viaProxy = new URL(database.url);
    viaProxy.hostname = "127.0.0.1";
    viaProxy.port = String(proxy.port);
    const stores: Stores = { mode: "real", env: { DATABASE_URL: viaProxy.toString(), REDIS_URL, REDIS_KEY_PREFIX: freshKeyPrefix() }, drop: database.drop };
    service = await startService(stores);
  });
  afterAll(async () => {
    await service?.stop();
    await proxy?.stop();
    await database?.drop();
  });

  it("answers UNAVAILABLE with a generic message, says NOT_SERVING, never verifies a token it cannot check, and recovers", async () => {
    const { phone, tokens } = await registerUser(service);
    await proxy.stop();

    const register = await failure(service.auth.sendOtp({ phone: newPhone(), purpose: OtpPurpose.REGISTER }, english));
    expect(register).toMatchObject({ code: Code.Unavailable, reason: "service_unavailable", message: GENERIC_UNAVAILABLE });
    const login = await failure(service.auth.sendOtp({ phone, purpose: OtpPurpose.LOGIN }));
    expect(login).toMatchObject({ code: Code.Unavailable, reason: "service_unavailable" });
    expectNoInternals(login.message);
    expect(await failure(service.token.refresh({ refresh: tokens.refresh }))).toMatchObject({ code: Code.Unavailable, reason: "service_unavailable" });

    // With its cache entry gone, a token can only be checked against PostgreSQL: refused, not valid.
    const redis = sharedRedis();
    try {
      await deleteKeysUnder(redis, service.config.redisKeyPrefix);
    } finally {
      redis.disconnect();
    }
    const cold = await failure(service.token.verify({ token: tokens.access }));
    expect(cold).toMatchObject({ code: Code.Unavailable, reason: "service_unavailable" });
    expectNoInternals(cold.message);
    await eventually(async () => (await healthOf(service).check({ service: "" })).status === ServingStatus.NOT_SERVING, 3_000);

    await proxy.start();
    await eventually(async () => (await healthOf(service).check({ service: "" })).status === ServingStatus.SERVING, 5_000);
    expect(await service.token.verify({ token: tokens.access })).toMatchObject({ valid: true });
    await service.auth.sendOtp({ phone, purpose: OtpPurpose.LOGIN });
    // Its own waits are bounded above; the scan of a shared Redis can take a while.
  }, 60_000);
});

// How an error is told does not depend on the stores: one mode serves.
describe("errors never leak internals", () => {
  let stores: Stores;
  const running: Service[] = [];
  beforeAll(async () => {
    stores = await freshStores(modes[0]!);
  });
  afterEach(async () => {
    for (const s of running.splice(0)) await s.stop();
  });
  afterAll(async () => {
    await stores?.drop();
  });

  it("answers a bug with INTERNAL internal_error and a generic message, whatever the error said", async () => {
    const service = await startService(stores, {
      extraClaims: () => {
        throw new Error('relation "users" does not exist: SELECT * FROM users WHERE phone = $1 at postgres://admin:pw@10.0.0.5:5432/identity\n    at sign (/srv/src/core/tokens/sign.ts:12:3)');
      },
    });
    running.push(service);
    const phone = newPhone();
    await service.auth.sendOtp({ phone, purpose: OtpPurpose.REGISTER });
    const code = service.sms.codeFor(phone, "register");
    const refused = await failure(service.auth.register({ phone, code, firstName: "", lastName: "" }, english));
    expect(refused).toMatchObject({ code: Code.Internal, reason: "internal_error", message: GENERIC_INTERNAL });
    expectNoInternals(refused.message);
    expect(refused.metadata).toEqual({});
    // In Persian too (the default locale).
    const other = newPhone();
    await service.auth.sendOtp({ phone: other, purpose: OtpPurpose.REGISTER });
    const persian = await failure(service.auth.register({ phone: other, code: service.sms.codeFor(other, "register"), firstName: "", lastName: "" }));
    expect(persian).toMatchObject({ code: Code.Internal, reason: "internal_error" });
    expectNoInternals(persian.message);
  });
});
