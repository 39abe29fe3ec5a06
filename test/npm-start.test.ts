/**
 * The service as `npm start` runs it: scripts/start.mjs builds an esbuild bundle of
 * the server and its dependencies when a source is newer, then runs it. The other
 * suites run src/ through tsx; this one proves the bundle is the same service, on
 * real stores and on the embedded default: the /api story, gRPC with health and
 * reflection (whose packages stay outside the bundle), and logout.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../gen/grpc/health/v1/health_pb.js";
import { TokenService } from "../gen/identity/v1/token_pb.js";
import { startServiceProcess, type ServiceProcess } from "./support/bridge-processes.js";
import { freshStores, type StoreMode, type Stores } from "./support/grpc-harness.js";
import { realStoresAvailable } from "./support/services.js";
import { startSmsInbox, type SmsInbox } from "./support/sms-inbox.js";

const run = promisify(execFile);
const modes: StoreMode[] = realStoresAvailable() ? ["real", "embedded"] : ["embedded"];

describe.each(modes)("npm start: the bundled service (%s stores)", (mode) => {
  let stores: Stores | undefined;
  let inbox: SmsInbox | undefined;
  let service: ServiceProcess | undefined;
  afterAll(async () => {
    await service?.stop();
    await inbox?.close();
    await stores?.drop();
  });

  it("serves the whole story over /api and gRPC, with health and reflection", async () => {
    stores = await freshStores(mode);
    inbox = await startSmsInbox();
    // The first start in a checkout also builds the bundle.
    service = await startServiceProcess(
      { ...stores.env, GRPC_PORT: "0", HTTP_PORT: "0", SMS_PROVIDER: "webhook", SMS_WEBHOOK_URL: inbox.url, OTP_RESEND_INTERVAL: "0s" },
      90_000,
      "bundle",
    );
    const http = String(service.listening.http);
    const grpc = `http://127.0.0.1:${String(service.listening.grpcPort)}`;
    const api = async (path: string, body?: unknown, access?: string) => {
      const response = await fetch(`${http}${path}`, {
        method: body === undefined ? "GET" : "POST",
        headers: { "content-type": "application/json", ...(access ? { authorization: `Bearer ${access}` } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as { data: Record<string, any> } };
    };

    expect((await api("/api/send-otp/", { phone: "09127654321", purpose: "register" })).status).toBe(200);
    const code = inbox.codeFor("+989127654321", "register");
    const registered = await api("/api/register/", { phone: "09127654321", code, first_name: "Sara", last_name: "Ahmadi" });
    expect(registered.status).toBe(201);
    const { access, refresh } = registered.body.data.tokens as { access: string; refresh: string };
    expect((await api("/api/dashboard/", undefined, access)).body.data.user).toMatchObject({ phone: "+989127654321", first_name: "Sara" });

    const transport = createGrpcTransport({ baseUrl: grpc });
    expect(await createClient(TokenService, transport).verify({ token: access })).toMatchObject({ valid: true, user: { firstName: "Sara" } });
    expect((await createClient(Health, transport).check({ service: "" })).status).toBe(ServingStatus.SERVING);
    const buf = join(process.cwd(), "node_modules", ".bin", "buf");
    const { stdout } = await run(buf, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "--list-services", grpc], { timeout: 15_000 });
    expect(stdout.split("\n")).toEqual(expect.arrayContaining(["identity.v1.AuthService", "identity.v1.TokenService", "grpc.health.v1.Health"]));

    expect((await api("/api/logout/", { refresh })).status).toBe(200);
    expect(await createClient(TokenService, transport).verify({ token: access })).toMatchObject({ valid: false, reason: "session_revoked" });
  }, 120_000);
});
