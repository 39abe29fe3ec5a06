/**
 * OpenTelemetry traces, exported by the service processes (`src/main.ts`, as
 * deployed) to a local OTLP/HTTP receiver, on real PostgreSQL and Redis: the span
 * tree of a call over /api and over gRPC, a caller's `traceparent` continued, the
 * trace carried from a bridge process to its gRPC upstream, log lines tied to their
 * spans, and nothing exported or logged when tracing is off.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenService } from "../gen/identity/v1/token_pb.js";
import { requester, type Session } from "./support/bridge-server.js";
import { startServiceProcess, startSplitDeployment, type Launcher, type ServiceProcess, type SplitDeployment } from "./support/bridge-processes.js";
import { eventually } from "./support/eventually.js";
import { startOtlpReceiver, SPAN_KIND, STATUS_ERROR, type OtlpReceiver, type ReceivedSpan } from "./support/otlp-receiver.js";
import { freshPhone } from "./support/phones.js";
import { REDIS_URL, freshDatabase, freshKeyPrefix } from "./support/services.js";
import { startSmsInbox, type SmsInbox } from "./support/sms-inbox.js";

/** Exports every 50 ms, so a test waits for spans no longer than that. */
function tracingEnv(receiver: OtlpReceiver): Record<string, string> {
  return { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json", OTEL_BSP_SCHEDULE_DELAY: "50" };
}

/** A caller's own span, sent along as W3C `traceparent`. */
function callerSpan() {
  const traceId = randomBytes(16).toString("hex");
  const spanId = randomBytes(8).toString("hex");
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
}

/** The spans of one trace, once `complete` accepts them. */
function traceOf(receiver: OtlpReceiver, traceId: string, complete: (spans: ReceivedSpan[]) => boolean): Promise<ReceivedSpan[]> {
  return eventually(async () => receiver.spans().filter((span) => span.traceId === traceId), complete);
}

function named(spans: readonly ReceivedSpan[], name: string): ReceivedSpan {
  const found = spans.filter((span) => span.name === name);
  expect(found.map((span) => span.name)).toEqual([name]);
  return found[0]!;
}

/** A process's log lines about one RPC. */
function rpcLines(service: ServiceProcess, rpc: string): Record<string, unknown>[] {
  return service.log.filter((line) => line.rpc === rpc);
}

/** One service process on a fresh database and key prefix, sending codes to an inbox. */
async function startService(env: Record<string, string>, launcher: Launcher = "source") {
  const [database, inbox, dataDir] = await Promise.all([freshDatabase(), startSmsInbox(), mkdtemp(join(tmpdir(), "tracing-"))]);
  const service = await startServiceProcess(
    {
      SERVICE_ROLE: "all",
      HOST: "127.0.0.1",
      HTTP_PORT: "0",
      GRPC_PORT: "0",
      METRICS_PORT: "0",
      DATABASE_URL: database.url,
      REDIS_URL,
      REDIS_KEY_PREFIX: freshKeyPrefix(),
      DATA_DIR: dataDir,
      SMS_PROVIDER: "webhook",
      SMS_WEBHOOK_URL: inbox.url,
      ...env,
    },
    90_000,
    launcher,
  );
  return {
    service,
    inbox,
    api: requester(String(service.listening.http)),
    token: createClient(TokenService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${String(service.listening.grpcPort)}` })),
    async close() {
      await service.stop();
      await Promise.all([inbox.close(), database.drop(), rm(dataDir, { recursive: true, force: true })]);
    },
  };
}

type Running = Awaited<ReturnType<typeof startService>>;

/** Signs a new person up over /api and logs them in, the login under `caller`'s trace. */
async function signUpAndLogIn(target: Running, caller: ReturnType<typeof callerSpan>): Promise<{ phone: ReturnType<typeof freshPhone>; session: Session }> {
  const phone = freshPhone();
  expect((await target.api("POST", "/api/send-otp/", { json: { phone: phone.local, purpose: "register" } })).status).toBe(200);
  const registered = await target.api("POST", "/api/register/", { json: { phone: phone.local, code: target.inbox.codeFor(phone.e164, "register"), first_name: "Sara", last_name: "Ahmadi" } });
  expect(registered.status).toBe(201);
  expect((await target.api("POST", "/api/send-otp/", { json: { phone: phone.local, purpose: "login" } })).status).toBe(200);
  const login = await target.api("POST", "/api/login/", { json: { phone: phone.local, code: target.inbox.codeFor(phone.e164, "login") }, headers: { traceparent: caller.traceparent } });
  expect(login.status).toBe(200);
  return { phone, session: login.body.data as Session };
}

describe("tracing on (SERVICE_ROLE=all, OTLP http/json)", () => {
  let receiver: OtlpReceiver;
  let target: Running;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    target = await startService({ ...tracingEnv(receiver), OTEL_SERVICE_NAME: "identity-under-test" });
  });
  afterAll(async () => {
    await target?.close();
    await receiver?.close();
  });

  it("makes a login over /api one trace: the route's span continues the caller's, the RPC's span is its child, PostgreSQL and Redis calls are the RPC's children", async () => {
    const caller = callerSpan();
    const { phone } = await signUpAndLogIn(target, caller);
    const spans = await traceOf(receiver, caller.traceId, (found) => found.some((span) => span.name === "POST /api/login/"));

    const route = named(spans, "POST /api/login/");
    expect(route).toMatchObject({
      kind: SPAN_KIND.server,
      parentSpanId: caller.spanId,
      service: "identity-under-test",
      attributes: { "http.request.method": "POST", "http.route": "/api/login/", "http.response.status_code": 200 },
    });
    const rpc = named(spans, "identity.v1.AuthService/Login");
    expect(rpc).toMatchObject({
      kind: SPAN_KIND.server,
      parentSpanId: route.spanId,
      attributes: { "rpc.system.name": "grpc", "rpc.method": "identity.v1.AuthService/Login", "rpc.status_code": "OK" },
    });
    expect(rpc.statusCode).not.toBe(STATUS_ERROR);

    const calls = spans.filter((span) => span !== route && span !== rpc);
    for (const call of calls) expect(call).toMatchObject({ kind: SPAN_KIND.client, parentSpanId: rpc.spanId });
    expect(new Set(calls.map((call) => call.attributes["db.system.name"]))).toEqual(new Set(["postgresql", "redis"]));
    // Statements as written, with placeholders; no key, value or parameter recorded.
    expect(calls.filter((call) => call.attributes["db.system.name"] === "postgresql").every((call) => /\$1/.test(String(call.attributes["db.query.text"])))).toBe(true);
    expect(JSON.stringify(spans)).not.toContain(phone.e164.slice(3));
  });

  it("makes a send-otp's SMS a child span of its RPC, naming the provider and purpose, never the recipient", async () => {
    const caller = callerSpan();
    const phone = freshPhone();
    const answer = await target.api("POST", "/api/send-otp/", { json: { phone: phone.local, purpose: "register" }, headers: { traceparent: caller.traceparent } });
    expect(answer.status).toBe(200);
    const spans = await traceOf(receiver, caller.traceId, (found) => found.some((span) => span.name === "POST /api/send-otp/"));

    const rpc = named(spans, "identity.v1.AuthService/SendOtp");
    expect(rpc.parentSpanId).toBe(named(spans, "POST /api/send-otp/").spanId);
    expect(named(spans, "sms webhook")).toMatchObject({
      kind: SPAN_KIND.client,
      parentSpanId: rpc.spanId,
      attributes: { "identity.sms.provider": "webhook", "identity.otp.purpose": "register" },
    });
    expect(spans.some((span) => span.parentSpanId === rpc.spanId && span.attributes["db.system.name"] === "redis")).toBe(true);
    expect(JSON.stringify(spans)).not.toContain(phone.e164.slice(3));
  });

  it("records a refusal on the spans without calling it an error", async () => {
    const caller = callerSpan();
    const answer = await target.api("POST", "/api/login/", { json: { phone: freshPhone().local, code: "000000" }, headers: { traceparent: caller.traceparent } });
    expect(answer.status).toBeGreaterThanOrEqual(400);
    expect(answer.status).toBeLessThan(500);
    const spans = await traceOf(receiver, caller.traceId, (found) => found.some((span) => span.name === "POST /api/login/"));

    const route = named(spans, "POST /api/login/");
    expect(route.attributes["http.response.status_code"]).toBe(answer.status);
    const rpc = named(spans, "identity.v1.AuthService/Login");
    expect(rpc.attributes).toMatchObject({ "rpc.status_code": expect.stringMatching(/^[A-Z_]+$/), "identity.reason": answer.body.data.code });
    expect(rpc.attributes["rpc.status_code"]).not.toBe("OK");
    expect([route.statusCode, rpc.statusCode]).not.toContain(STATUS_ERROR);
  });

  it("continues a gRPC caller's traceparent: the Verify span is the caller's child, in the caller's trace", async () => {
    const { session } = await signUpAndLogIn(target, callerSpan());
    const caller = callerSpan();
    const answer = await target.token.verify({ token: session.tokens.access }, { headers: { traceparent: caller.traceparent } });
    expect(answer.valid).toBe(true);
    const spans = await traceOf(receiver, caller.traceId, (found) => found.some((span) => span.name === "identity.v1.TokenService/Verify"));
    expect(named(spans, "identity.v1.TokenService/Verify")).toMatchObject({
      kind: SPAN_KIND.server,
      parentSpanId: caller.spanId,
      attributes: { "rpc.method": "identity.v1.TokenService/Verify", "rpc.status_code": "OK" },
    });
  });

  it("starts a trace of its own for a gRPC call that carries none", async () => {
    const before = new Set(receiver.spans().map((span) => span.spanId));
    expect((await target.token.verify({ token: "not-a-token" })).valid).toBe(false);
    const verify = await eventually(
      async () => receiver.spans().find((span) => span.name === "identity.v1.TokenService/Verify" && !before.has(span.spanId)),
      (span) => span !== undefined,
    );
    expect(verify!.parentSpanId).toBeUndefined();
  });

  it("writes trace_id and span_id into the log lines of a traced call, naming the exported span", async () => {
    const caller = callerSpan();
    await signUpAndLogIn(target, caller);
    const spans = await traceOf(receiver, caller.traceId, (found) => found.some((span) => span.name === "POST /api/login/"));
    const rpc = named(spans, "identity.v1.AuthService/Login");
    const lines = await eventually(
      async () => rpcLines(target.service, "identity.v1.AuthService/Login").filter((line) => line.trace_id === caller.traceId),
      (found) => found.length > 0,
    );
    expect(lines).toEqual([expect.objectContaining({ trace_id: caller.traceId, span_id: rpc.spanId })]);
  });
});

describe("tracing across the split deployment (SERVICE_ROLE=bridge → SERVICE_ROLE=grpc)", () => {
  let receiver: OtlpReceiver;
  let split: SplitDeployment;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    // No OTEL_SERVICE_NAME: both are "identity".
    const env = { ...tracingEnv(receiver), METRICS_PORT: "0" };
    split = await startSplitDeployment(env, env);
  });
  afterAll(async () => {
    await split?.close();
    await receiver?.close();
  });

  it("makes the bridge's route span the parent of the gRPC process's RPC span, in one trace", async () => {
    const caller = callerSpan();
    const phone = freshPhone();
    const answer = await requester(split.url)("POST", "/api/send-otp/", { json: { phone: phone.local, purpose: "register" }, headers: { traceparent: caller.traceparent } });
    expect(answer.status).toBe(200);
    const spans = await traceOf(receiver, caller.traceId, (found) => ["POST /api/send-otp/", "identity.v1.AuthService/SendOtp", "sms webhook"].every((name) => found.some((span) => span.name === name)));

    const route = named(spans, "POST /api/send-otp/");
    expect(route).toMatchObject({ kind: SPAN_KIND.server, parentSpanId: caller.spanId, service: "identity" });
    const rpc = named(spans, "identity.v1.AuthService/SendOtp");
    expect(rpc).toMatchObject({ kind: SPAN_KIND.server, parentSpanId: route.spanId, service: "identity" });
    expect(named(spans, "sms webhook").parentSpanId).toBe(rpc.spanId);
    // The gRPC process's log line of the call names the span it was written in.
    expect(rpcLines(split.grpc, "identity.v1.AuthService/SendOtp").filter((line) => line.trace_id === caller.traceId)).toEqual([expect.objectContaining({ span_id: rpc.spanId })]);
  });
});

describe("the default protocol, through the bundle `npm start` runs", () => {
  it("exports OTLP/HTTP protobuf (application/x-protobuf) and flushes the spans at SIGTERM", async () => {
    const receiver = await startOtlpReceiver();
    // A long schedule: the spans leave only because shutdown flushes them.
    const target = await startService({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: "600000" }, "bundle");
    try {
      expect((await target.token.verify({ token: "not-a-token" })).valid).toBe(false);
      expect(receiver.contentTypes).toEqual([]);
    } finally {
      await target.close();
      await receiver.close();
    }
    expect(receiver.contentTypes).toEqual(["application/x-protobuf"]);
  });
});

describe("tracing off", () => {
  it.each([
    ["no OTLP endpoint", { OTEL_EXPORTER_OTLP_PROTOCOL: "http/json", OTEL_SERVICE_NAME: "identity-untraced" }],
    ["OTEL_SDK_DISABLED=true", { OTEL_SDK_DISABLED: "true" }],
    ["OTEL_TRACES_SAMPLER=always_off", { OTEL_TRACES_SAMPLER: "always_off" }],
  ])("%s: no span is exported, even at shutdown, and log lines carry no trace_id", async (_, env) => {
    const receiver = await startOtlpReceiver();
    const endpoint = "OTEL_EXPORTER_OTLP_PROTOCOL" in env ? {} : tracingEnv(receiver);
    const target = await startService({ ...endpoint, ...env });
    const caller = callerSpan();
    try {
      expect((await target.token.verify({ token: "not-a-token" }, { headers: { traceparent: caller.traceparent } })).valid).toBe(false);
      expect((await target.api("POST", "/api/token/verify/", { json: { token: "not-a-token" } })).status).toBe(401);
    } finally {
      await target.close();
      await receiver.close();
    }
    expect(receiver.contentTypes).toEqual([]);
    expect(rpcLines(target.service, "identity.v1.TokenService/Verify")).toHaveLength(2);
    expect(target.service.log.filter((line) => "trace_id" in line || "span_id" in line)).toEqual([]);
  });
});
