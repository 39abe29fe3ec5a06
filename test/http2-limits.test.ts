/**
 * HTTP/2 on both ports (the bridge's h2c and gRPC) held to the limits HTTP/1.1
 * keeps (DESIGN.md, "Limits every deployment gets"), seen by a raw node:http2
 * client: the streams advertised, the header budget, idle connections, stalled
 * requests, and the reset after an early answer. The time-outs are shortened
 * through the servers' own options.
 */
import { connect, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { OtpPurpose, SendOtpRequestSchema } from "../gen/identity/v1/auth_pb.js";
import { HTTP_LIMITS } from "../src/lib/http-limits.js";
import { startBridgeHarness, type BridgeHarness } from "./support/bridge-server.js";
import { freshStores, startService, type Service, type Stores } from "./support/grpc-harness.js";
import { realStoresAvailable } from "./support/services.js";
import { freshPhone } from "./support/phones.js";

const LIMITS = { idleTimeoutMs: 300, headersTimeoutMs: 2_000, requestTimeoutMs: 2_000 };
/** How long a test waits for something the server must do: far past every time-out above. */
const BOUND_MS = 8_000;
const OVER_HEADER_BUDGET = 17 * 1024;

const sessions: ClientHttp2Session[] = [];

function open(url: string): ClientHttp2Session {
  const session = connect(url);
  session.on("error", () => {}); // a connection the server dropped; each test asserts what it expects
  sessions.push(session);
  return session;
}

afterEach(() => {
  for (const session of sessions.splice(0)) session.destroy();
});

interface Outcome {
  headers: IncomingHttpHeaders;
  trailers: IncomingHttpHeaders;
  body: Buffer;
  rstCode: number;
}

/** Everything the server sent on a stream, once the stream is closed. */
function outcome(stream: ClientHttp2Stream): Promise<Outcome> {
  return new Promise((resolve) => {
    let headers: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on("response", (h) => (headers = h));
    stream.on("trailers", (t) => (trailers = t));
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("error", () => {}); // a reset with an error code: rstCode says which
    stream.on("close", () => resolve({ headers, trailers, body: Buffer.concat(chunks), rstCode: stream.rstCode ?? 0 }));
  });
}

/** `promise`, or a failure naming what the server did not do within BOUND_MS. */
function within<T>(what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the server did not ${what} within ${BOUND_MS} ms`)), BOUND_MS);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/**
 * Keeps writing `chunk` until the stream closes; resolves with the bytes written.
 * It never ends its side, so only the server can close the stream (a reset).
 */
function sendUntilClosed(stream: ClientHttp2Stream, chunk: Buffer): Promise<number> {
  return new Promise((resolve) => {
    let sent = 0;
    const tick = setInterval(() => {
      if (stream.closed || stream.destroyed) return;
      stream.write(chunk);
      sent += chunk.length;
    }, 5);
    stream.once("close", () => {
      clearInterval(tick);
      resolve(sent);
    });
  });
}

function remoteSettings(session: ClientHttp2Session) {
  return within("send its SETTINGS", new Promise<ClientHttp2Session["remoteSettings"]>((resolve) => session.once("remoteSettings", resolve)));
}

function closed(session: ClientHttp2Session): Promise<void> {
  return new Promise((resolve) => (session.closed ? resolve() : session.once("close", () => resolve())));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.runIf(realStoresAvailable())("HTTP/2 limits on the bridge's h2c port", () => {
  let h: BridgeHarness;

  beforeAll(async () => {
    h = await startBridgeHarness({ limits: LIMITS });
  });
  afterAll(async () => {
    await h?.close();
  });

  const sendOtp = (session: ClientHttp2Session, extra: OutgoingHttpHeaders = {}) =>
    session.request({ ":method": "POST", ":path": "/api/send-otp/", "content-type": "application/json", ...extra });

  it("advertises at most 1,000 concurrent streams per connection", async () => {
    const settings = await remoteSettings(open(h.url));
    expect(settings.maxConcurrentStreams).toBeLessThanOrEqual(1000);
    expect(settings.maxConcurrentStreams).toBe(HTTP_LIMITS.maxConcurrentStreams);
  });

  it("answers request headers over 16 KB with 431 before the route runs, and serves a normal header list", async () => {
    const session = open(h.url);
    const refusedPhone = freshPhone();
    const refused = sendOtp(session, { "x-filler": "a".repeat(OVER_HEADER_BUDGET) });
    refused.end(JSON.stringify({ phone: refusedPhone.local, purpose: "register" }));
    expect((await within("answer the over-size headers", outcome(refused))).headers[":status"]).toBe(431);

    const phone = freshPhone();
    const normal = sendOtp(session, { "x-filler": "a".repeat(8 * 1024) });
    normal.end(JSON.stringify({ phone: phone.local, purpose: "register" }));
    expect((await within("answer a normal request", outcome(normal))).headers[":status"]).toBe(200);
    expect(h.inbox.codeFor(phone.e164, "register")).toMatch(/^\d+$/);
    expect(() => h.inbox.codeFor(refusedPhone.e164)).toThrow(/no SMS/);
  });

  it("closes a connection that stays idle past the idle time-out", async () => {
    const session = open(h.url);
    const health = session.request({ ":path": "/healthz" });
    health.end();
    expect((await within("answer /healthz", outcome(health))).headers[":status"]).toBe(200);
    await within("close the idle connection", closed(session));
  });

  it("keeps a connection whose request is still arriving past the idle time-out", async () => {
    const session = open(h.url);
    const phone = freshPhone();
    const slow = sendOtp(session);
    const answer = outcome(slow);
    const body = JSON.stringify({ phone: phone.local, purpose: "register" });
    slow.write(body.slice(0, 10));
    await sleep(LIMITS.idleTimeoutMs * 3);
    slow.end(body.slice(10));
    expect((await within("answer the slow request", answer)).headers[":status"]).toBe(200);
  });

  it("answers a request whose body stalls with 408 and ends its stream", async () => {
    const session = open(h.url);
    const stalled = sendOtp(session);
    stalled.write('{"phone": "0912');
    const ended = await within("end the stalled stream", outcome(stalled));
    expect(ended.headers[":status"]).toBe(408);
    expect(ended.rstCode).toBe(0); // RST_STREAM NO_ERROR: stop sending, the answer stands
  });

  it("answers an over-size body with 413 and resets the stream while the client is still sending", async () => {
    const session = open(h.url);
    const big = sendOtp(session);
    const answer = outcome(big);
    const sent = await within("reset the over-size request", sendUntilClosed(big, Buffer.alloc(8 * 1024, "a")));
    const refused = await answer;
    expect(sent).toBeGreaterThan(64 * 1024);
    expect(refused.headers[":status"]).toBe(413);
    expect(JSON.parse(refused.body.toString()).data.code).toBe("payload_too_large");
    expect(refused.rstCode).toBe(0);
    // The connection itself keeps serving.
    const health = session.request({ ":path": "/healthz" });
    health.end();
    expect((await within("answer on the same connection", outcome(health))).headers[":status"]).toBe(200);
  });
});

describe("HTTP/2 limits on the gRPC port", () => {
  let stores: Stores;
  let service: Service;
  let url: string;

  beforeAll(async () => {
    stores = await freshStores("embedded");
    service = await startService(stores, { limits: LIMITS });
    url = `http://127.0.0.1:${service.port}`;
  });
  afterAll(async () => {
    await service?.stop();
    await stores?.drop();
  });

  const call = (session: ClientHttp2Session, method: string, extra: OutgoingHttpHeaders = {}) =>
    session.request({ ":method": "POST", ":path": `/identity.v1.${method}`, "content-type": "application/grpc", te: "trailers", ...extra });

  /** A length-prefixed gRPC message. */
  const framed = (message: Uint8Array) => {
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(message.length, 1);
    return Buffer.concat([prefix, message]);
  };
  const sendOtpMessage = (phone: string) => framed(toBinary(SendOtpRequestSchema, create(SendOtpRequestSchema, { phone, purpose: OtpPurpose.REGISTER })));
  const grpcStatusOf = (o: Outcome) => Number(o.trailers["grpc-status"] ?? o.headers["grpc-status"]);

  it("advertises at most 1,000 concurrent streams per connection", async () => {
    const settings = await remoteSettings(open(url));
    expect(settings.maxConcurrentStreams).toBeLessThanOrEqual(1000);
    expect(settings.maxConcurrentStreams).toBe(HTTP_LIMITS.maxConcurrentStreams);
  });

  it("refuses metadata over 16 KB with RESOURCE_EXHAUSTED before the service runs, and serves normal metadata", async () => {
    const session = open(url);
    const refusedPhone = freshPhone().e164;
    const refused = call(session, "AuthService/SendOtp", { "x-filler": "a".repeat(OVER_HEADER_BUDGET) });
    refused.end(sendOtpMessage(refusedPhone));
    expect(grpcStatusOf(await within("answer the over-size metadata", outcome(refused)))).toBe(GrpcStatus.RESOURCE_EXHAUSTED);

    const phone = freshPhone().e164;
    const normal = call(session, "AuthService/SendOtp", { "x-filler": "a".repeat(8 * 1024) });
    normal.end(sendOtpMessage(phone));
    expect(grpcStatusOf(await within("answer a normal call", outcome(normal)))).toBe(GrpcStatus.OK);
    expect(service.sms.codeFor(phone, "register")).toMatch(/^\d+$/);
    expect(() => service.sms.codeFor(refusedPhone)).toThrow(/no SMS/);
  });

  it("closes a connection that stays idle past the idle time-out", async () => {
    const session = open(url);
    const jwks = call(session, "TokenService/GetJwks");
    jwks.end(framed(new Uint8Array()));
    expect(grpcStatusOf(await within("answer GetJwks", outcome(jwks)))).toBe(GrpcStatus.OK);
    await within("close the idle connection", closed(session));
  });

  it("keeps a connection whose request is still arriving past the idle time-out", async () => {
    const session = open(url);
    const phone = freshPhone().e164;
    const slow = call(session, "AuthService/SendOtp");
    const answer = outcome(slow);
    const message = sendOtpMessage(phone);
    slow.write(message.subarray(0, 8));
    await sleep(LIMITS.idleTimeoutMs * 3);
    slow.end(message.subarray(8));
    expect(grpcStatusOf(await within("answer the slow call", answer))).toBe(GrpcStatus.OK);
  });

  it("ends a call whose message stalls with DEADLINE_EXCEEDED", async () => {
    const session = open(url);
    const stalled = call(session, "AuthService/SendOtp");
    stalled.write(sendOtpMessage(freshPhone().e164).subarray(0, 8));
    const ended = await within("end the stalled call", outcome(stalled));
    expect(grpcStatusOf(ended)).toBe(GrpcStatus.DEADLINE_EXCEEDED);
    expect(ended.rstCode).toBe(0);
  });

  it("answers an over-size message with RESOURCE_EXHAUSTED and resets the stream while the client is still sending", async () => {
    const session = open(url);
    const big = call(session, "TokenService/Verify");
    const answer = outcome(big);
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(1024 * 1024, 1);
    big.write(prefix);
    // grpc-js refuses on the declared length, so the answer comes at once; the
    // client goes on sending until the reset stops it.
    await within("reset the over-size call", sendUntilClosed(big, Buffer.alloc(8 * 1024, "a")));
    const refused = await answer;
    expect(grpcStatusOf(refused)).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    expect(refused.rstCode).toBe(0);
    // The connection itself keeps serving.
    const jwks = call(session, "TokenService/GetJwks");
    jwks.end(framed(new Uint8Array()));
    expect(grpcStatusOf(await within("answer on the same connection", outcome(jwks)))).toBe(GrpcStatus.OK);
  });
});
