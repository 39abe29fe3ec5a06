/**
 * `GET /metrics` on METRICS_PORT (DESIGN.md "Metrics and traces"), scraped from the
 * service run as it is deployed, after real calls on every surface: gRPC, Connect and
 * /api each move their own series by exactly what was done, routes are patterns,
 * and nothing is served on HTTP_PORT or with METRICS_PORT=off.
 */
import { readdir, readFile, readlink } from "node:fs/promises";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServiceProcess, startSplitDeployment, type ServiceProcess, type SplitDeployment } from "./support/bridge-processes.js";
import { freshStores, type Stores } from "./support/grpc-harness.js";
import { freshPhone } from "./support/phones.js";
import { scrape, type Scrape } from "./support/prometheus-text.js";
import { realStoresAvailable } from "./support/services.js";
import { startSmsInbox, type SmsInbox } from "./support/sms-inbox.js";
import { apiCall, apiData, apiSurface, connectSurface, grpcSurface, refusalOf } from "./support/surfaces.js";

const TOKEN_SERVICE = "identity.v1.TokenService";
const VERIFY = { service: TOKEN_SERVICE, method: "Verify" };
const CONNECT_VERIFY = `/${TOKEN_SERVICE}/Verify`;

/** How far each series moved between two scrapes. */
function delta(before: Scrape, after: Scrape) {
  return (name: string, labels: Record<string, string> = {}) => after.value(name, labels) - before.value(name, labels);
}

/** The TCP ports process `pid` listens on, read from /proc (its sockets, then the kernel's table). */
async function listeningPorts(pid: number): Promise<number[]> {
  const inodes = new Set<string>();
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => "");
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode !== undefined) inodes.add(inode);
  }
  const ports: number[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of (await readFile(table, "utf8")).split("\n").slice(1)) {
      const [, local = "", , state, , , , , , inode = ""] = line.trim().split(/\s+/);
      if (state === "0A" /* LISTEN */ && inodes.has(inode)) ports.push(parseInt(local.split(":")[1] ?? "", 16));
    }
  }
  return ports.sort((a, b) => a - b);
}

/** A Verify whose request bytes are not a VerifyRequest: the adapter refuses it itself. */
function malformedVerify(grpcPort: unknown): Promise<grpc.status> {
  const client = new grpc.Client(`127.0.0.1:${String(grpcPort)}`, grpc.credentials.createInsecure());
  return new Promise<grpc.status>((resolve) => {
    const bytes = (b: Buffer) => b;
    client.makeUnaryRequest(`/${TOKEN_SERVICE}/Verify`, bytes, bytes, Buffer.from([0xff, 0xff, 0xff]), (error) => resolve(error?.code ?? grpc.status.OK));
  }).finally(() => client.close());
}

describe.runIf(realStoresAvailable())("/metrics of SERVICE_ROLE=all", () => {
  let stores: Stores;
  let inbox: SmsInbox;
  let service: ServiceProcess;
  let http: string;

  beforeAll(async () => {
    [stores, inbox] = await Promise.all([freshStores("real"), startSmsInbox()]);
    service = await startServiceProcess(
      { ...stores.env, HOST: "127.0.0.1", GRPC_PORT: "0", HTTP_PORT: "0", METRICS_PORT: "0", SMS_PROVIDER: "webhook", SMS_WEBHOOK_URL: inbox.url, OTP_RESEND_INTERVAL: "0s" },
      90_000,
    );
    http = String(service.listening.http);
  }, 120_000);
  afterAll(async () => {
    await service?.stop();
    await inbox?.close();
    await stores?.drop();
  });

  it("names its own listener in the start-up line, apart from gRPC and HTTP", async () => {
    const { grpcPort, httpPort, metricsPort, metrics } = service.listening;
    expect(metrics).toBe(`127.0.0.1:${String(metricsPort)}`);
    expect(metricsPort).not.toBe(httpPort);
    expect(await listeningPorts(service.pid)).toEqual([grpcPort, httpPort, metricsPort].map(Number).sort((a, b) => a - b));
  });

  it("counts gRPC calls by service, method and status code, malformed requests included, and times each", async () => {
    const grpcCalls = grpcSurface(`http://127.0.0.1:${String(service.listening.grpcPort)}`);
    const before = await scrape(service.listening.metricsPort);
    for (let i = 0; i < 3; i++) expect((await grpcCalls.verify("not-a-token")).valid).toBe(false);
    expect((await refusalOf(grpcCalls.profile("not-a-token"))).status).toBe(grpc.status.UNAUTHENTICATED);
    expect(await malformedVerify(service.listening.grpcPort)).toBe(grpc.status.INVALID_ARGUMENT);
    const moved = delta(before, await scrape(service.listening.metricsPort));

    expect(moved("identity_grpc_requests_total", { ...VERIFY, code: "OK" })).toBe(3);
    expect(moved("identity_grpc_requests_total", { ...VERIFY, code: "INVALID_ARGUMENT" })).toBe(1);
    expect(moved("identity_grpc_requests_total", { service: "identity.v1.AuthService", method: "GetProfile", code: "UNAUTHENTICATED" })).toBe(1);
    expect(moved("identity_grpc_requests_total")).toBe(5);
    expect(moved("identity_grpc_request_duration_seconds_count", VERIFY)).toBe(4);
    expect(moved("identity_grpc_request_duration_seconds_bucket", { ...VERIFY, le: "+Inf" })).toBe(4);
    // gRPC calls are not HTTP requests of the bridge.
    expect(moved("identity_http_requests_total")).toBe(0);
  });

  it("counts /api and Connect requests by route pattern and status, never by raw path", async () => {
    const phone = freshPhone();
    const api = apiSurface(http);
    await api.sendOtp(phone.local, "register");
    const tokens = await api.register(phone.local, inbox.codeFor(phone.e164, "register"));
    const [session] = (await apiData(http, "GET", "/api/sessions/", { access: tokens.access })).sessions as { id: string }[];

    const before = await scrape(service.listening.metricsPort);
    expect((await apiCall(http, "DELETE", `/api/sessions/${session!.id}/`, { access: tokens.access })).status).toBe(200);
    expect((await apiCall(http, "DELETE", `/api/sessions/${session!.id}/`)).status).toBe(401);
    expect((await apiCall(http, "GET", `/api/no-such-route/${session!.id}/`)).status).toBe(404);
    expect((await apiCall(http, "POST", `/${TOKEN_SERVICE}/NoSuchMethod`, { json: {} })).status).toBe(404);
    expect((await connectSurface(http).verify(tokens.access)).valid).toBe(false); // that session was just ended
    const after = await scrape(service.listening.metricsPort);
    const moved = delta(before, after);

    expect(moved("identity_http_requests_total", { route: "/api/sessions/{id}/", status: "200" })).toBe(1);
    expect(moved("identity_http_requests_total", { route: "/api/sessions/{id}/", status: "401" })).toBe(1);
    expect(moved("identity_http_requests_total", { route: "unmatched", status: "404" })).toBe(2);
    expect(moved("identity_http_requests_total", { route: CONNECT_VERIFY, status: "200" })).toBe(1);
    expect(moved("identity_http_requests_total")).toBe(5);
    expect(moved("identity_http_request_duration_seconds_count", { route: "/api/sessions/{id}/" })).toBe(2);
    expect(moved("identity_http_request_duration_seconds_count", { route: "unmatched" })).toBe(2);
    // A Connect call served in-process is the bridge's request, not a gRPC call.
    expect(moved("identity_grpc_requests_total")).toBe(0);

    const labelValues = after.samples.flatMap((sample) => Object.values(sample.labels));
    expect(labelValues.filter((value) => [session!.id, phone.local, phone.e164].some((secret) => value.includes(secret)))).toEqual([]);
  });

  it("serves the standard process_* and nodejs_* series beside the service's own", async () => {
    const scraped = await scrape(service.listening.metricsPort);
    expect(scraped.types.get("process_cpu_user_seconds_total")).toBe("counter");
    expect(scraped.value("process_resident_memory_bytes")).toBeGreaterThan(0);
    expect(scraped.types.get("nodejs_eventloop_lag_seconds")).toBe("gauge");
    expect(scraped.labelsOf("nodejs_version_info")).toHaveLength(1);
    expect(scraped.types.get("identity_verify_total")).toBe("counter");
  });

  it("answers GET and HEAD at /metrics in Prometheus's text format, 404 on other paths, 405 to other methods", async () => {
    const url = `http://127.0.0.1:${String(service.listening.metricsPort)}`;
    const got = await fetch(`${url}/metrics`);
    expect(got.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(await got.text()).toContain("# TYPE identity_grpc_requests_total counter");

    const head = await fetch(`${url}/metrics`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(await head.text()).toBe("");

    for (const path of ["/", "/metricsx", "/api/metrics", "/healthz"]) expect((await fetch(`${url}${path}`)).status, path).toBe(404);
    for (const method of ["POST", "PUT", "DELETE"]) {
      const refused = await fetch(`${url}/metrics`, { method });
      expect(refused.status, method).toBe(405);
      expect(refused.headers.get("allow")).toBe("GET, HEAD");
    }
  });

  it("is not served on HTTP_PORT", async () => {
    const answer = await fetch(`${http}/metrics`);
    expect(answer.status).toBe(404);
    expect(await answer.text()).not.toContain("identity_grpc_requests_total");
  });
});

describe.runIf(realStoresAvailable())("METRICS_PORT=off", () => {
  let stores: Stores;
  let service: ServiceProcess;
  beforeAll(async () => {
    stores = await freshStores("real");
    // NODE_DEBUG=module: Node names each CommonJS module it loads (prom-client is one).
    service = await startServiceProcess({ ...stores.env, HOST: "127.0.0.1", GRPC_PORT: "0", HTTP_PORT: "0", METRICS_PORT: "off", NODE_DEBUG: "module" }, 90_000);
  }, 120_000);
  afterAll(async () => {
    await service?.stop();
    await stores?.drop();
  });

  it("listens on gRPC and HTTP only, and the start-up line names no metrics port", async () => {
    const { grpcPort, httpPort } = service.listening;
    expect(service.listening).not.toHaveProperty("metricsPort");
    expect(service.listening).not.toHaveProperty("metrics");
    expect(service.listening.msg).not.toContain("metrics");
    expect(await listeningPorts(service.pid)).toEqual([grpcPort, httpPort].map(Number).sort((a, b) => a - b));
  });

  it("never loads prom-client", () => {
    expect(service.output()).toMatch(/^MODULE \d+: load /m); // the trace is on
    expect(service.output()).not.toContain("prom-client");
  });
});

describe.runIf(realStoresAvailable())("/metrics of the split deployment", () => {
  let split: SplitDeployment;
  beforeAll(async () => {
    split = await startSplitDeployment();
  }, 120_000);
  afterAll(async () => {
    await split?.close();
  });

  it("has each process serve its own: the bridge its HTTP requests, the gRPC process the calls they became", async () => {
    const { grpc: grpcProcess, bridge } = split;
    expect(grpcProcess.listening.metricsPort).toEqual(expect.any(Number));
    expect(bridge.listening.metricsPort).toEqual(expect.any(Number));
    expect(bridge.listening.metricsPort).not.toBe(grpcProcess.listening.metricsPort);
    const before = await Promise.all([scrape(grpcProcess.listening.metricsPort), scrape(bridge.listening.metricsPort)]);

    expect((await connectSurface(split.url).verify("not-a-token")).valid).toBe(false);
    expect((await apiCall(split.url, "POST", "/api/token/verify/", { json: { token: "not-a-token" } })).status).toBe(401);

    const after = await Promise.all([scrape(grpcProcess.listening.metricsPort), scrape(bridge.listening.metricsPort)]);
    const grpcMoved = delta(before[0], after[0]);
    const bridgeMoved = delta(before[1], after[1]);
    expect(grpcMoved("identity_grpc_requests_total", { ...VERIFY, code: "OK" })).toBe(2);
    expect(grpcMoved("identity_http_requests_total")).toBe(0);
    expect(bridgeMoved("identity_http_requests_total", { route: CONNECT_VERIFY, status: "200" })).toBe(1);
    expect(bridgeMoved("identity_http_requests_total", { route: "/api/token/verify/", status: "401" })).toBe(1);
    expect(bridgeMoved("identity_grpc_requests_total")).toBe(0);
  });
});
