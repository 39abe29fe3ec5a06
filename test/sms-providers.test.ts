/**
 * DESIGN "SMS delivery", provider by provider, against local stand-ins of the
 * gateways' HTTP APIs: the request each sends (path, auth, encoding), what counts
 * as success, which answer is an invalid number, and every failure (error status,
 * 5xx, hang past SMS_TIMEOUT, refused connection) as a log-safe UnavailableError.
 * Then the failover list and its circuit breakers, built from the configuration.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { AppError, UnavailableError } from "../src/core/errors.js";
import { createKavenegarSender, createSmsirSender, createSmsSender, createTwilioSender, type SmsAttempt, type SmsMessage, type SmsSender } from "../src/sms/index.js";
import { ANSWERS, providersEnv, startKavenegar, startSmsir, startTwilio, type Standin, type StandinAnswer } from "./support/sms-standins.js";

const CODE = "493817";
const TIMEOUT = "300ms";
const IRANIAN = "+989123456789";
const GERMAN = "+4915123456789";

function message(to = IRANIAN): SmsMessage {
  return { to, message: `Your verification code: ${CODE}`, code: CODE, purpose: "register" };
}

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const item of open.splice(0).reverse()) await item.close();
});

/** A stand-in closed after the test. */
async function standin(start: Promise<Standin>): Promise<Standin> {
  const started = await start;
  open.push(started);
  return started;
}

/** The one provider `standin` stands in for, configured as loadConfig reads `env`. */
function provider(of: Standin, env: Record<string, string> = {}): SmsSender {
  const sms = loadConfig({ ...providersEnv(of), SMS_TIMEOUT: TIMEOUT, ...env }).sms;
  const timeoutMs = sms.timeoutMs;
  const sender =
    of.name === "kavenegar" ? createKavenegarSender({ ...sms.kavenegar!, timeoutMs }) : of.name === "smsir" ? createSmsirSender({ ...sms.smsir!, timeoutMs }) : createTwilioSender({ ...sms.twilio!, timeoutMs });
  open.push({ close: async () => await sender.close?.() });
  return sender;
}

/** The error `promise` rejects with, which must be a log-safe UnavailableError. */
async function unavailable(promise: Promise<unknown>, of: Standin): Promise<string> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UnavailableError);
  const { message: text, dependency } = error as UnavailableError;
  expect(dependency).toBe("sms");
  expect(text).not.toContain(CODE);
  for (const secret of of.secrets) expect(text).not.toContain(secret);
  return text;
}

async function invalidPhone(promise: Promise<unknown>): Promise<void> {
  await expect(promise).rejects.toSatisfy((e) => e instanceof AppError && e.reason === "invalid_phone");
}

/** The log-safe failure the provider reports when the gateway answers `answer`. */
async function failureOn(of: Standin, answer: StandinAnswer | "ok", env: Record<string, string> = {}): Promise<string> {
  of.answer(answer);
  return unavailable(provider(of, env).send(message()), of);
}

/** The provider reads each of the gateway's `answers` as an invalid number. */
async function expectInvalidPhoneOn(of: Standin, answers: StandinAnswer[]): Promise<void> {
  const sender = provider(of);
  for (const answer of answers) {
    of.answer(answer);
    await invalidPhone(sender.send(message()));
  }
}

/** A base URL where nothing listens (bound, then released). */
async function closedBaseUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

describe("kavenegar", () => {
  it("with KAVENEGAR_TEMPLATE, GETs verify/lookup.json with the key in the path, the national receptor, the code as token and the template", async () => {
    const kavenegar = await standin(startKavenegar({ template: "identity-otp" }));
    expect(await provider(kavenegar).send(message())).toEqual({ provider: "kavenegar" });

    expect(kavenegar.requests).toHaveLength(1);
    const [request] = kavenegar.requests;
    const url = new URL(request!.url, kavenegar.baseUrl);
    expect(request!.method).toBe("GET");
    expect(url.pathname).toBe(`/v1/${kavenegar.env.KAVENEGAR_API_KEY}/verify/lookup.json`);
    expect(Object.fromEntries(url.searchParams)).toEqual({ receptor: "09123456789", token: CODE, template: "identity-otp" });
    expect(kavenegar.codeFor(IRANIAN)).toBe(CODE);
  });

  it("without a template, POSTs sms/send.json as a form with receptor, our text and KAVENEGAR_SENDER", async () => {
    const kavenegar = await standin(startKavenegar({ sender: "10004346" }));
    expect(await provider(kavenegar).send(message())).toEqual({ provider: "kavenegar" });

    const [request] = kavenegar.requests;
    expect(request!.method).toBe("POST");
    expect(request!.url).toBe(`/v1/${kavenegar.env.KAVENEGAR_API_KEY}/sms/send.json`);
    expect(request!.headers["content-type"]).toBe("application/x-www-form-urlencoded");
    expect(Object.fromEntries(new URLSearchParams(request!.body))).toEqual({ receptor: "09123456789", message: `Your verification code: ${CODE}`, sender: "10004346" });
  });

  it("writes a number outside Iran in the international form 00…", async () => {
    const kavenegar = await standin(startKavenegar());
    await provider(kavenegar).send(message(GERMAN));
    expect(new URL(kavenegar.requests[0]!.url, kavenegar.baseUrl).searchParams.get("receptor")).toBe("004915123456789");
  });

  it("keeps connections for the next messages instead of opening one each", async () => {
    const kavenegar = await standin(startKavenegar());
    const sender = provider(kavenegar);
    for (let i = 0; i < 6; i++) await sender.send(message());
    const connections = new Set(kavenegar.requests.map((r) => r.clientPort));
    expect(connections.size).toBeLessThan(6);
  });

  it("reads status 411 as an invalid number (invalid_phone), as an HTTP status or inside a 200", async () => {
    await expectInvalidPhoneOn(await standin(startKavenegar()), [ANSWERS.kavenegar.invalidReceptor, ANSWERS.kavenegar.invalidReceptorIn200]);
  });

  it("fails (UnavailableError) on its own error status, a 5xx and a wrong key, naming the status but never the key", async () => {
    const kavenegar = await standin(startKavenegar());
    expect(await failureOn(kavenegar, ANSWERS.kavenegar.noCredit)).toMatch(/kavenegar answered HTTP 418 with status 418/);
    expect(await failureOn(kavenegar, ANSWERS.kavenegar.serverError)).toMatch(/HTTP 502/);
    expect(await failureOn(kavenegar, "ok", { KAVENEGAR_API_KEY: "not-the-key" })).toMatch(/HTTP 403/);
  });

  it("gives up after SMS_TIMEOUT, describing the URL with [key] in place of the key", async () => {
    const kavenegar = await standin(startKavenegar());
    expect(await failureOn(kavenegar, "hang")).toBe(`kavenegar ${kavenegar.baseUrl}/v1/[key]/verify/lookup.json did not answer within 300 ms`);
  });

  it("fails on a refused connection, the key still redacted", async () => {
    const kavenegar = await standin(startKavenegar());
    const text = await unavailable(provider(kavenegar, { KAVENEGAR_BASE_URL: await closedBaseUrl() }).send(message()), kavenegar);
    expect(text).toMatch(/^kavenegar http:\/\/127\.0\.0\.1:\d+\/v1\/\[key\]\/verify\/lookup\.json unreachable \(ECONNREFUSED\)$/);
  });
});

describe("smsir", () => {
  it("POSTs send/verify as JSON with x-api-key: the national mobile, the template id and the code as SMSIR_CODE_PARAM", async () => {
    const smsir = await standin(startSmsir());
    expect(await provider(smsir, { SMSIR_CODE_PARAM: "OTP" }).send(message())).toEqual({ provider: "smsir" });

    const [request] = smsir.requests;
    expect(request!.method).toBe("POST");
    expect(request!.url).toBe("/v1/send/verify");
    expect(request!.headers["x-api-key"]).toBe(smsir.env.SMSIR_API_KEY);
    expect(request!.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(request!.body)).toEqual({ mobile: "9123456789", templateId: 100000, parameters: [{ name: "OTP", value: CODE }] });
  });

  it("names its code parameter CODE by default", async () => {
    const smsir = await standin(startSmsir());
    await provider(smsir).send(message());
    expect(JSON.parse(smsir.requests[0]!.body).parameters).toEqual([{ name: "CODE", value: CODE }]);
  });

  it("fails on any status but 1 (in an error answer or a 200), a 5xx, a wrong key and a hang", async () => {
    const smsir = await standin(startSmsir());
    expect(await failureOn(smsir, ANSWERS.smsir.errorStatus)).toBe("smsir answered HTTP 400 with status 10");
    expect(await failureOn(smsir, ANSWERS.smsir.errorStatusIn200)).toBe("smsir answered HTTP 200 with status 0");
    expect(await failureOn(smsir, ANSWERS.smsir.serverError)).toBe("smsir answered HTTP 503");
    expect(await failureOn(smsir, "ok", { SMSIR_API_KEY: "not-the-key" })).toMatch(/HTTP 401/);
    expect(await failureOn(smsir, "hang")).toBe(`smsir ${smsir.baseUrl}/v1/send/verify did not answer within 300 ms`);
  });

  it("cannot reach a number outside Iran, and sends nothing there", async () => {
    const smsir = await standin(startSmsir());
    const sender = provider(smsir);
    expect(sender.reaches?.(GERMAN)).toBe(false);
    expect(sender.reaches?.(IRANIAN)).toBe(true);
    await unavailable(sender.send(message(GERMAN)), smsir);
    expect(smsir.requests).toHaveLength(0);
  });
});

describe("twilio", () => {
  it("POSTs Messages.json under the account with Basic auth, a form of To (E.164), From and our text as Body", async () => {
    const twilio = await standin(startTwilio({ from: "+15005550006" }));
    expect(await provider(twilio).send(message(GERMAN))).toEqual({ provider: "twilio" });

    const [request] = twilio.requests;
    const { TWILIO_ACCOUNT_SID: sid, TWILIO_AUTH_TOKEN: token } = twilio.env;
    expect(request!.method).toBe("POST");
    expect(request!.url).toBe(`/2010-04-01/Accounts/${sid}/Messages.json`);
    expect(request!.headers.authorization).toBe(`Basic ${Buffer.from(`${sid}:${token}`).toString("base64")}`);
    expect(request!.headers["content-type"]).toBe("application/x-www-form-urlencoded");
    expect(Object.fromEntries(new URLSearchParams(request!.body))).toEqual({ To: GERMAN, From: "+15005550006", Body: `Your verification code: ${CODE}` });
  });

  it("sends through TWILIO_MESSAGING_SERVICE_SID instead of a From number", async () => {
    const twilio = await standin(startTwilio({ messagingServiceSid: "MG0123456789abcdef0123456789abcdef" }));
    await provider(twilio).send(message());
    expect(Object.fromEntries(new URLSearchParams(twilio.requests[0]!.body))).toEqual({ To: IRANIAN, MessagingServiceSid: "MG0123456789abcdef0123456789abcdef", Body: `Your verification code: ${CODE}` });
  });

  it("reads a 400 with code 21211 or 21614 as an invalid number (invalid_phone)", async () => {
    await expectInvalidPhoneOn(await standin(startTwilio()), [ANSWERS.twilio.invalidTo, ANSWERS.twilio.notMobile]);
  });

  it("fails on another 400, a 5xx, a wrong token and a hang, never showing the token", async () => {
    const twilio = await standin(startTwilio());
    expect(await failureOn(twilio, ANSWERS.twilio.otherBadRequest)).toBe("twilio answered HTTP 400 with code 21606");
    expect(await failureOn(twilio, ANSWERS.twilio.serverError)).toBe("twilio answered HTTP 500 with code 20500");
    expect(await failureOn(twilio, "ok", { TWILIO_AUTH_TOKEN: "not-the-token" })).toBe("twilio answered HTTP 401 with code 20003");
    expect(await failureOn(twilio, "hang")).toMatch(/^twilio http:\/\/127\.0\.0\.1:\d+\/2010-04-01\/Accounts\/AC[0-9a-f]+\/Messages\.json did not answer within 300 ms$/);
  });
});

describe("a failover list (SMS_PROVIDER=a,b,c)", () => {
  let kavenegar: Standin;
  let smsir: Standin;
  let twilio: Standin;
  beforeAll(async () => {
    [kavenegar, smsir, twilio] = await Promise.all([startKavenegar(), startSmsir(), startTwilio()]);
  });
  afterAll(async () => {
    await Promise.all([kavenegar, smsir, twilio].map((s) => s?.close()));
  });
  afterEach(() => {
    for (const s of [kavenegar, smsir, twilio]) {
      s.answer("ok");
      s.requests.length = 0;
    }
  });

  interface Built {
    sender: SmsSender;
    attempts: SmsAttempt[];
    lines: Array<{ level: string; obj: Record<string, unknown>; msg: string }>;
    /** The breakers' clock, in milliseconds. */
    clock: { ms: number };
  }

  function failover(...standins: Standin[]): Built {
    const attempts: SmsAttempt[] = [];
    const lines: Built["lines"] = [];
    const clock = { ms: 1_000_000 };
    const log = (level: string) => (obj: object, msg: string) => lines.push({ level, obj: obj as Record<string, unknown>, msg });
    const config = loadConfig({ ...providersEnv(...standins), SMS_TIMEOUT: TIMEOUT }).sms;
    const sender = createSmsSender(config, { debug: log("debug"), info: log("info"), warn: log("warn") }, { onAttempt: (a) => attempts.push(a), now: () => clock.ms });
    open.push({ close: async () => await sender.close?.() });
    return { sender, attempts, lines, clock };
  }

  const outcomes = (attempts: SmsAttempt[]) => attempts.map((a) => `${a.provider}:${a.outcome}`);

  it("delivers through the first provider and leaves the others alone", async () => {
    const { sender, attempts } = failover(kavenegar, smsir, twilio);
    expect(sender.name).toBe("kavenegar,smsir,twilio");
    expect(await sender.send(message())).toEqual({ provider: "kavenegar" });
    expect(outcomes(attempts)).toEqual(["kavenegar:ok"]);
    expect([smsir.requests.length, twilio.requests.length]).toEqual([0, 0]);
  });

  it.each([
    ["a 5xx", ANSWERS.kavenegar.serverError],
    ["its own error status", ANSWERS.kavenegar.noCredit],
    ["a hang past SMS_TIMEOUT", "hang" as const],
  ])("hands over on %s, in order, and says who delivered", async (_what, answer) => {
    const { sender, attempts } = failover(kavenegar, smsir, twilio);
    kavenegar.answer(answer);
    smsir.answer(ANSWERS.smsir.serverError);
    expect(await sender.send(message())).toEqual({ provider: "twilio" });
    expect(outcomes(attempts)).toEqual(["kavenegar:failed", "smsir:failed", "twilio:ok"]);
    expect(twilio.codeFor(IRANIAN)).toBe(CODE);
    for (const a of attempts) expect(a.seconds).toBeGreaterThanOrEqual(0);
  });

  it("stops at an invalid-number answer: invalid_phone, no other provider asked", async () => {
    const { sender, attempts } = failover(twilio, kavenegar);
    twilio.answer(ANSWERS.twilio.invalidTo);
    await invalidPhone(sender.send(message()));
    expect(outcomes(attempts)).toEqual(["twilio:invalid"]);
    expect(kavenegar.requests).toHaveLength(0);
  });

  it("rejects with one UnavailableError saying why each failed when all fail", async () => {
    const { sender } = failover(kavenegar, twilio);
    kavenegar.answer(ANSWERS.kavenegar.serverError);
    twilio.answer(ANSWERS.twilio.serverError);
    const text = await unavailable(sender.send(message()), { ...kavenegar, secrets: [...kavenegar.secrets, ...twilio.secrets] });
    expect(text).toBe("every SMS provider failed: kavenegar answered HTTP 502; twilio answered HTTP 500 with code 20500");
  });

  it("passes over a provider that cannot reach the number, without a request", async () => {
    const { sender, attempts } = failover(smsir, twilio);
    expect(await sender.send(message(GERMAN))).toEqual({ provider: "twilio" });
    expect(outcomes(attempts)).toEqual(["smsir:skipped", "twilio:ok"]);
    expect(smsir.requests).toHaveLength(0);
  });

  it("logs one line per provider call with provider, outcome and seconds, never the code or a key", async () => {
    const { sender, lines } = failover(kavenegar, smsir);
    kavenegar.answer("hang");
    await sender.send(message());
    expect(lines.map((l) => [l.level, l.obj.provider, l.obj.outcome])).toEqual([
      ["warn", "kavenegar", "failed"],
      ["info", "smsir", "ok"],
    ]);
    for (const line of lines) expect(typeof line.obj.seconds).toBe("number");
    const logged = JSON.stringify(lines);
    expect(logged).toContain("[key]");
    for (const secret of [CODE, ...kavenegar.secrets, ...smsir.secrets]) expect(logged).not.toContain(secret);
  });

  describe("circuit breaker", () => {
    const SECOND = 1000;

    /** Sends `n` messages, the clock a second further before each. */
    async function sendTimes(built: Built, n: number): Promise<void> {
      for (let i = 0; i < n; i++) {
        built.clock.ms += SECOND;
        await built.sender.send(message()).catch(() => undefined);
      }
    }

    it("skips a provider after 3 failures in a row for 30 s: it sees no request; then one trial call closes it again", async () => {
      const built = failover(kavenegar, smsir);
      kavenegar.answer(ANSWERS.kavenegar.serverError);
      await sendTimes(built, 3);
      expect(kavenegar.requests).toHaveLength(3);

      built.attempts.length = 0;
      await sendTimes(built, 5);
      expect(kavenegar.requests).toHaveLength(3);
      expect(outcomes(built.attempts).slice(0, 2)).toEqual(["kavenegar:skipped", "smsir:ok"]);

      kavenegar.answer("ok");
      built.clock.ms += 30 * SECOND;
      expect(await built.sender.send(message())).toEqual({ provider: "kavenegar" });
      expect(kavenegar.requests).toHaveLength(4);
      await sendTimes(built, 2);
      expect(kavenegar.requests).toHaveLength(6);
    });

    it("doubles the back-off when the trial call fails too", async () => {
      const built = failover(kavenegar, smsir);
      kavenegar.answer(ANSWERS.kavenegar.serverError);
      await sendTimes(built, 3);
      const opened = built.clock.ms;

      built.clock.ms = opened + 30 * SECOND;
      await built.sender.send(message());
      expect(kavenegar.requests).toHaveLength(4); // the trial, failed: now open for 60 s

      built.clock.ms = opened + 30 * SECOND + 59 * SECOND;
      await built.sender.send(message());
      expect(kavenegar.requests).toHaveLength(4);

      built.clock.ms = opened + 30 * SECOND + 60 * SECOND;
      await built.sender.send(message());
      expect(kavenegar.requests).toHaveLength(5);
    });

    it("when every provider is open, still calls the one whose last failure is oldest", async () => {
      const built = failover(kavenegar, smsir);
      kavenegar.answer(ANSWERS.kavenegar.serverError);
      await sendTimes(built, 3); // kavenegar open; smsir delivered
      smsir.answer(ANSWERS.smsir.serverError);
      await sendTimes(built, 3); // smsir open too (kavenegar skipped meanwhile)
      expect([kavenegar.requests.length, smsir.requests.length]).toEqual([3, 6]);

      kavenegar.answer("ok");
      built.attempts.length = 0;
      built.clock.ms += SECOND;
      expect(await built.sender.send(message())).toEqual({ provider: "kavenegar" });
      expect(outcomes(built.attempts)).toEqual(["kavenegar:skipped", "smsir:skipped", "kavenegar:ok"]);
      expect(smsir.requests).toHaveLength(6);
    });

    it("counts an invalid-number answer as the gateway working", async () => {
      const built = failover(twilio, kavenegar);
      twilio.answer(ANSWERS.twilio.serverError);
      await sendTimes(built, 2);
      twilio.answer(ANSWERS.twilio.invalidTo);
      await sendTimes(built, 1);
      twilio.answer(ANSWERS.twilio.serverError);
      await sendTimes(built, 2);
      expect(twilio.requests).toHaveLength(5);
    });
  });
});
