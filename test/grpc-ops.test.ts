/**
 * What operators see: reflection and `buf curl`, grpc.health.v1, and error
 * messages that never carry internals. Stores that stop answering (health
 * NOT_SERVING, failing closed, recovery) are in test/resilience-stores.test.ts.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { Code, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../gen/grpc/health/v1/health_pb.js";
import { failure, freshStores, OtpPurpose, registerUser, startService, type Service, type StoreMode, type Stores } from "./support/grpc-harness.js";
import { expectNoInternals } from "./support/no-internals.js";
import { realStoresAvailable } from "./support/services.js";
import { freshPhone } from "./support/phones.js";

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
const GENERIC_INTERNAL = "An internal error occurred.";

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

  it("lists AuthService, TokenService, AdminService and Health through server reflection", async () => {
    const listed = await bufCurl(["--list-services", url]);
    expect(listed.code).toBe(0);
    expect(listed.stdout.split("\n")).toEqual(expect.arrayContaining(["identity.v1.AuthService", "identity.v1.TokenService", "identity.v1.AdminService", "grpc.health.v1.Health"]));
  });

  it("lists every RPC of the contract through server reflection", async () => {
    const listed = await bufCurl(["--list-methods", url]);
    expect(listed.code).toBe(0);
    const methods = listed.stdout.split("\n");
    for (const m of ["SendOtp", "Register", "Login", "Logout", "LogoutAll", "GetProfile", "UpdateProfile"]) expect(methods).toContain(`identity.v1.AuthService/${m}`);
    for (const m of ["Refresh", "Verify", "Introspect", "GetJwks", "WatchRevocations"]) expect(methods).toContain(`identity.v1.TokenService/${m}`);
    for (const m of ["ListUsers", "GetUser", "UpdateUser", "RevokeUserSessions", "ListAuditEvents"]) expect(methods).toContain(`identity.v1.AdminService/${m}`);
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

  it("lists and ends sessions with buf curl and a Bearer header, as the README shows", async () => {
    const { phone, tokens } = await registerUser(service);
    await service.auth.sendOtp({ phone, purpose: OtpPurpose.LOGIN });
    const other = (await service.auth.login({ phone, code: service.sms.codeFor(phone, "login") })).tokens!;
    const auth = ["-H", `authorization: Bearer ${tokens.access}`];
    const listed = await bufCurl([...auth, `${url}/identity.v1.AuthService/ListSessions`]);
    expect(listed.code).toBe(0);
    const { sessions } = JSON.parse(listed.stdout) as { sessions: { id: string; current?: boolean }[] };
    expect(sessions.map((s) => s.current ?? false).sort()).toEqual([false, true]);
    const otherId = sessions.find((s) => !s.current)!.id;

    expect((await bufCurl([...auth, "-d", JSON.stringify({ session_id: otherId }), `${url}/identity.v1.AuthService/RevokeSession`])).code).toBe(0);
    expect(await service.token.verify({ token: other.access })).toMatchObject({ valid: false, reason: "session_revoked" });
    const again = await bufCurl([...auth, "-d", JSON.stringify({ session_id: otherId }), `${url}/identity.v1.AuthService/RevokeSession`]);
    expect((JSON.parse(again.stderr) as { code: string }).code).toBe("not_found");
    const others = await bufCurl([...auth, "-d", "{}", `${url}/identity.v1.AuthService/LogoutOthers`]);
    expect(JSON.parse(others.stdout)).toEqual({});
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
    const phone = freshPhone().e164;
    await service.auth.sendOtp({ phone, purpose: OtpPurpose.REGISTER });
    const code = service.sms.codeFor(phone, "register");
    const refused = await failure(service.auth.register({ phone, code, firstName: "", lastName: "" }, english));
    expect(refused).toMatchObject({ code: Code.Internal, reason: "internal_error", message: GENERIC_INTERNAL });
    expectNoInternals(refused.message);
    expect(refused.metadata).toEqual({});
    // In Persian too (the default locale).
    const other = freshPhone().e164;
    await service.auth.sendOtp({ phone: other, purpose: OtpPurpose.REGISTER });
    const persian = await failure(service.auth.register({ phone: other, code: service.sms.codeFor(other, "register"), firstName: "", lastName: "" }));
    expect(persian).toMatchObject({ code: Code.Internal, reason: "internal_error" });
    expectNoInternals(persian.message);
  });
});
