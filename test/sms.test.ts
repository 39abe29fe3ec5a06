import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type RequestListener, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { UnavailableError } from "../src/core/errors.js";
import { createConsoleSender, createSmsSender, createWebhookSender, type SmsMessage } from "../src/sms/index.js";
import { OtpPurpose } from "../gen/identity/v1/auth_pb.js";
import { startBridgeHarness, type BridgeHarness } from "./support/bridge-server.js";
import { freshPhone } from "./support/phones.js";
import { freshStores, startService, type Service, type Stores } from "./support/grpc-harness.js";
import { realStoresAvailable } from "./support/services.js";
import type { ReceivedSms } from "./support/sms-inbox.js";

const CODE = "493817";
const SECRET = "webhook-secret-7f3a9c";
const sms: SmsMessage = { to: "+989123456789", message: `Your code: ${CODE}`, code: CODE, purpose: "register" };

interface Received {
  method: string | undefined;
  headers: IncomingHttpHeaders;
  body: string;
}

const servers: Server[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

/** A real HTTP server on 127.0.0.1, on a free port, closed after each test. */
async function listen(handler: RequestListener): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/sms`;
}

/** A webhook target that records each request and answers `status`. */
async function recordingTarget(status: number): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const url = await listen((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      received.push({ method: req.method, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      res.writeHead(status, { "content-type": "text/plain" }).end("answer body nobody reads");
    });
  });
  return { url, received };
}

/** A port nothing listens on: bound, then released. */
async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/sms`;
}

async function rejection(promise: Promise<unknown>): Promise<UnavailableError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UnavailableError);
  const unavailable = error as UnavailableError;
  expect(unavailable.dependency).toBe("sms");
  expect(unavailable.message).not.toContain(CODE);
  expect(unavailable.message).not.toContain(SECRET);
  return unavailable;
}

describe("webhook SMS sender", () => {
  it("POSTs the message as JSON", async () => {
    const { url, received } = await recordingTarget(200);
    await createWebhookSender({ url }).send(sms);

    expect(received).toHaveLength(1);
    const [request] = received;
    expect(request?.method).toBe("POST");
    expect(request?.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(request?.body ?? "")).toEqual({ to: "+989123456789", message: `Your code: ${CODE}`, code: CODE, purpose: "register" });
  });

  it("sends no signature headers without a secret", async () => {
    const { url, received } = await recordingTarget(204);
    await createWebhookSender({ url }).send(sms);

    expect(received[0]?.headers["x-signature"]).toBeUndefined();
    expect(received[0]?.headers["x-signature-timestamp"]).toBeUndefined();
  });

  it("signs `${timestamp}.${body}` with HMAC-SHA256 of the secret", async () => {
    const { url, received } = await recordingTarget(200);
    const before = Math.floor(Date.now() / 1000);
    await createWebhookSender({ url, secret: SECRET }).send(sms);
    const after = Math.floor(Date.now() / 1000);

    const request = received[0];
    const timestamp = request?.headers["x-signature-timestamp"];
    const signature = request?.headers["x-signature"];
    if (typeof timestamp !== "string" || typeof signature !== "string" || request === undefined) throw new Error("signature headers missing");
    expect(Number(timestamp)).toBeGreaterThanOrEqual(before);
    expect(Number(timestamp)).toBeLessThanOrEqual(after);

    // What a receiver does: recompute over the raw bytes it got, compare in constant time.
    const expected = `sha256=${createHmac("sha256", SECRET).update(`${timestamp}.${request.body}`).digest("hex")}`;
    expect(signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(timingSafeEqual(Buffer.from(signature), Buffer.from(expected))).toBe(true);
  });

  it("signs with the injected clock's unix seconds", async () => {
    const { url, received } = await recordingTarget(200);
    await createWebhookSender({ url, secret: SECRET, now: () => 1_700_000_000_999 }).send(sms);

    const request = received[0];
    expect(request?.headers["x-signature-timestamp"]).toBe("1700000000");
    const expected = createHmac("sha256", SECRET).update(`1700000000.${request?.body}`).digest("hex");
    expect(request?.headers["x-signature"]).toBe(`sha256=${expected}`);
  });

  it("rejects with UnavailableError when the target answers 500", async () => {
    const { url } = await recordingTarget(500);
    const error = await rejection(createWebhookSender({ url, secret: SECRET }).send(sms));
    expect(error.message).toContain("500");
  });

  it("treats a redirect as a failure instead of following it", async () => {
    const { url: elsewhere, received } = await recordingTarget(200);
    const url = await listen((_req, res) => res.writeHead(307, { location: elsewhere }).end());

    await rejection(createWebhookSender({ url, secret: SECRET }).send(sms));
    expect(received).toHaveLength(0);
  });

  it("rejects within the time-out when the target never answers", async () => {
    const url = await listen(() => {
      /* holds the request open forever */
    });
    const started = performance.now();
    const error = await rejection(createWebhookSender({ url, secret: SECRET, timeoutMs: 200 }).send(sms));

    expect(performance.now() - started).toBeLessThan(2000);
    expect(error.message).toContain("200 ms");
  });

  it("rejects with UnavailableError when the connection is refused", async () => {
    const url = await closedPortUrl();
    const error = await rejection(createWebhookSender({ url, secret: SECRET }).send(sms));
    expect(error.message).toContain("ECONNREFUSED");
  });

  it("refuses a URL that is not absolute http(s), without echoing it", () => {
    expect(() => createWebhookSender({ url: "ftp://user:pw@example.com/x" })).toThrow(/http\(s\)/);
    expect(() => createWebhookSender({ url: "not a url" })).toThrow(/http\(s\)/);
  });
});

describe("console SMS sender", () => {
  it("logs the phone, purpose and code in one structured line", async () => {
    const lines: Array<{ obj: object; msg: string }> = [];
    await createConsoleSender({ info: (obj, msg) => lines.push({ obj, msg }) }).send(sms);

    expect(lines).toHaveLength(1);
    expect(lines[0]?.obj).toEqual({ sms: { to: "+989123456789", purpose: "register", code: CODE } });
  });
});

describe("createSmsSender", () => {
  const logger = { debug: () => undefined, info: () => undefined, warn: () => undefined };

  it("chooses the provider the config names, and says it delivered", async () => {
    const console = createSmsSender({ providers: ["console"], timeoutMs: 5000 }, logger);
    expect(console.name).toBe("console");
    expect(await console.send(sms)).toEqual({ provider: "console" });

    const { url, received } = await recordingTarget(200);
    const sender = createSmsSender({ providers: ["webhook"], timeoutMs: 5000, webhook: { url, secret: SECRET } }, logger);
    expect(sender.name).toBe("webhook");
    expect(await sender.send(sms)).toEqual({ provider: "webhook" });
    expect(received[0]?.headers["x-signature"]).toMatch(/^sha256=/);
  });

  it("refuses the webhook provider without a URL", () => {
    expect(() => createSmsSender({ providers: ["webhook"], timeoutMs: 5000 }, logger)).toThrow(/SMS_WEBHOOK_URL/);
  });
});

describe.runIf(realStoresAvailable())("the code SMS speaks the request's language, with the WebOTP line last", () => {
  // The default templates, OTP_TTL 5m and SMS_WEBOTP_DOMAIN, as the webhook receives them.
  const ENV = { OTP_TTL: "5m", SMS_WEBOTP_DOMAIN: "login.example.com" };
  const persian = (code: string) => `کد تأیید شما: ${code}\nاین کد تا ۵ دقیقه معتبر است.\n@login.example.com #${code}`;
  const english = (code: string) => `Your verification code: ${code}\nIt expires in 5 minutes.\n@login.example.com #${code}`;
  let stores: Stores;
  let service: Service;
  let h: BridgeHarness;

  beforeAll(async () => {
    stores = await freshStores("real");
    [service, h] = await Promise.all([startService(stores, { env: ENV }), startBridgeHarness({ env: ENV })]);
  });
  afterAll(async () => {
    await Promise.all([service?.stop(), h?.close()]);
    await stores?.drop();
  });

  /** The text the webhook received with the last code sent to `e164`, and that code. */
  function lastTo(received: readonly ReceivedSms[], e164: string): { text: string; code: string } {
    const sms = received.filter((s) => s.to === e164).at(-1);
    if (sms === undefined) throw new Error(`no SMS reached ${e164}`);
    return { text: sms.message, code: sms.code };
  }

  it("over gRPC: English for accept-language en, Persian (DEFAULT_LOCALE) without one", async () => {
    const inEnglish = freshPhone();
    await service.auth.sendOtp({ phone: inEnglish.local, purpose: OtpPurpose.REGISTER }, { headers: { "accept-language": "en-GB,fa;q=0.5" } });
    const en = lastTo(service.sms.received, inEnglish.e164);
    expect(en.text).toBe(english(en.code));
    const inPersian = freshPhone();
    await service.auth.sendOtp({ phone: inPersian.local, purpose: OtpPurpose.REGISTER });
    const fa = lastTo(service.sms.received, inPersian.e164);
    expect(fa.text).toBe(persian(fa.code));
  });

  it("over the bridge's /api: the same", async () => {
    const inEnglish = freshPhone();
    const sent = await h.request("POST", "/api/send-otp/", { json: { phone: inEnglish.local, purpose: "register" }, headers: { "accept-language": "en" } });
    expect(sent.status).toBe(200);
    const en = lastTo(h.inbox.received, inEnglish.e164);
    expect(en.text).toBe(english(en.code));
    const inPersian = freshPhone();
    expect((await h.request("POST", "/api/send-otp/", { json: { phone: inPersian.local, purpose: "register" } })).status).toBe(200);
    const fa = lastTo(h.inbox.received, inPersian.e164);
    expect(fa.text).toBe(persian(fa.code));
  });
});
