/**
 * The split deployment: a `SERVICE_ROLE=grpc` process and a `SERVICE_ROLE=bridge`
 * process calling it at GRPC_UPSTREAM, each started as `src/main.ts` is deployed.
 * The browser flows pass through both; reasons, Retry-After and the client IP
 * (x-forwarded-for, believed through TRUSTED_PROXIES) cross the hop intact.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { Browser, Request } from "playwright-core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { browserSuitesRun, launchChromium, openTabs, type Tabs } from "./support/bridge-browser.js";
import { fiveParallelRequestsOneRefresh, logoutFollowsAcrossTabs, registerLoginRequestLogout } from "./support/bridge-flows.js";
import { startSplitDeployment, type ServiceProcess, type SplitDeployment } from "./support/bridge-processes.js";
import type { SmsInbox } from "./support/sms-inbox.js";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { AuthService } from "../gen/identity/v1/auth_pb.js";
import { TokenService } from "../gen/identity/v1/token_pb.js";
import { realStoresAvailable } from "./support/services.js";
import { freshPhone } from "./support/phones.js";

const ACCESS_LIFETIME_S = 2;
const PER_IP_CAP = 10;

describe.runIf(realStoresAvailable() && browserSuitesRun)("split deployment: bridge process → gRPC process", () => {
  let split: SplitDeployment;
  let grpc: ServiceProcess;
  let bridge: ServiceProcess;
  let inbox: SmsInbox;
  let browser: Browser;
  let tabs: Tabs;
  let url: string;

  beforeAll(async () => {
    const browserStarting = launchChromium();
    split = await startSplitDeployment({ ACCESS_TOKEN_LIFETIME: `${ACCESS_LIFETIME_S}s`, OTP_MAX_PER_IP_PER_HOUR: String(PER_IP_CAP) });
    ({ grpc, bridge, inbox, url } = split);
    browser = await browserStarting;
    tabs = await openTabs(browser, url);
  });
  afterAll(async () => {
    await tabs?.close();
    await browser?.close();
    await split?.close();
  });
  beforeEach(async () => {
    await tabs.reset();
  });

  it("starts each role on its own and logs where it listens", () => {
    expect(grpc.listening).toMatchObject({ role: "grpc", grpcPort: expect.any(Number) });
    expect(grpc.listening).not.toHaveProperty("httpPort");
    expect(bridge.listening).toMatchObject({ role: "bridge", httpPort: expect.any(Number), upstream: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/) });
    expect(bridge.listening).not.toHaveProperty("grpcPort");
  });

  it("registers, reads and edits the profile, logs out and in again, through both processes", async () => {
    await registerLoginRequestLogout(tabs, { url, inbox });
  });

  it("logs out in every tab when one tab logs out", async () => {
    await logoutFollowsAcrossTabs(tabs, { url, inbox });
  });

  it("refreshes once for five parallel requests on an expired token", async () => {
    let refreshes = 0;
    const count = (request: Request) => void (request.url().endsWith("/api/token/refresh/") && refreshes++);
    tabs.context.on("request", count);
    await fiveParallelRequestsOneRefresh(
      tabs,
      { url, inbox },
      () => new Promise((resolve) => setTimeout(resolve, ACCESS_LIFETIME_S * 1000 + 100)),
      () => refreshes,
    ).finally(() => tabs.context.off("request", count));
  });

  it("maps the upstream's refusals back: reason, status, localized message, Retry-After", async () => {
    const dashboard = await fetch(`${url}/api/dashboard/`, { headers: { "accept-language": "en" } });
    expect(dashboard.status).toBe(401);
    expect(await dashboard.json()).toEqual({ success: false, message: "Authentication credentials were not provided.", data: { code: "not_authenticated" } });

    const phone = freshPhone().local;
    const send = () => fetch(`${url}/api/send-otp/`, { method: "POST", headers: { "content-type": "application/json", "x-forwarded-for": "198.51.100.1" }, body: JSON.stringify({ phone, purpose: "register" }) });
    expect((await send()).status).toBe(200);
    const again = await send();
    expect(again.status).toBe(429);
    expect(Number(again.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(((await again.json()) as { data: { code: string } }).data.code).toBe("rate_limited");
  });

  it("serves the Connect protocol through the upstream too", async () => {
    const transport = createConnectTransport({ baseUrl: url, httpVersion: "1.1" });
    expect((await createClient(TokenService, transport).getJwks({})).keys.length).toBeGreaterThan(0);
    const refused = await createClient(AuthService, transport)
      .getProfile({}, { headers: { "accept-language": "en" } })
      .then(() => undefined, (error: unknown) => ConnectError.from(error));
    expect(refused?.code).toBe(Code.Unauthenticated);
    expect(refused?.rawMessage).toBe("Authentication credentials were not provided.");
    expect(refused?.findDetails(ErrorInfoSchema)[0]?.reason).toBe("not_authenticated");
  });

  it("passes the client IP on, so the per-IP limit counts the client and not the bridge", async () => {
    const send = (ip: string) =>
      fetch(`${url}/api/send-otp/`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-forwarded-for": ip },
        body: JSON.stringify({ phone: freshPhone().local, purpose: "register" }),
      }).then((r) => r.status);
    for (let i = 0; i < PER_IP_CAP; i++) expect(await send("203.0.113.50")).toBe(200);
    expect(await send("203.0.113.50")).toBe(429);
    expect(await send("203.0.113.51")).toBe(200);
  });

  it("is ready while the upstream is, and answers 503 when the upstream is gone", async () => {
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    await grpc.stop();
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(503);
    const send = await fetch(`${url}/api/send-otp/`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ phone: freshPhone().local, purpose: "register" }) });
    expect(send.status).toBe(503);
    expect(((await send.json()) as { data: { code: string } }).data.code).toBe("service_unavailable");
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const connect = await createClient(TokenService, createConnectTransport({ baseUrl: url, httpVersion: "1.1" }))
      .getJwks({}, { headers: { "accept-language": "en" } })
      .then(() => undefined, (error: unknown) => ConnectError.from(error));
    expect(connect?.code).toBe(Code.Unavailable);
    expect(connect?.rawMessage).toBe("The service is temporarily unavailable. Please try again shortly.");
  });
});
