/**
 * The SMS providers as a deployed process sees them: a provider named without its
 * credentials stops start-up with one line naming the variable, and a running
 * service logging at debug level never writes a provider's key or token, whatever
 * the gateways answer (Kavenegar's key sits in its URL path: the log shows [key]).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requester, type BridgeHarness } from "./support/bridge-server.js";
import { runServiceProcessToExit, startServiceProcess, type ServiceProcess } from "./support/bridge-processes.js";
import { freshPhone } from "./support/phones.js";
import { REDIS_URL, freshDatabase, freshKeyPrefix, realStoresAvailable } from "./support/services.js";
import { ANSWERS, providersEnv, startKavenegar, startSmsir, startTwilio, type Standin } from "./support/sms-standins.js";

describe("start-up with a provider missing a credential", () => {
  const KAVENEGAR = { KAVENEGAR_API_KEY: "kav-key-5e1d77", KAVENEGAR_TEMPLATE: "identity-otp" };
  const SMSIR = { SMSIR_API_KEY: "smsir-key-90ab3f", SMSIR_TEMPLATE_ID: "100000" };
  const TWILIO = { TWILIO_ACCOUNT_SID: "AC0123456789abcdef0123456789abcdef", TWILIO_AUTH_TOKEN: "twilio-token-4c4c4c", TWILIO_FROM: "+15005550006" };

  it.each([
    ["KAVENEGAR_API_KEY", "kavenegar", { ...KAVENEGAR, KAVENEGAR_API_KEY: "" }],
    ["KAVENEGAR_TEMPLATE", "kavenegar", { ...KAVENEGAR, KAVENEGAR_TEMPLATE: "" }],
    ["SMSIR_TEMPLATE_ID", "smsir", { ...SMSIR, SMSIR_TEMPLATE_ID: "" }],
    ["TWILIO_AUTH_TOKEN", "twilio,smsir", { ...TWILIO, ...SMSIR, TWILIO_AUTH_TOKEN: "" }],
  ])("exits non-zero with one line naming %s (SMS_PROVIDER=%s), echoing no credential", async (variable, providers, env) => {
    const { code, stdout, stderr } = await runServiceProcessToExit({ SMS_PROVIDER: providers, GRPC_PORT: "0", HTTP_PORT: "0", METRICS_PORT: "off", ...env });
    expect(code).not.toBe(0);
    expect(code).not.toBeNull();
    expect(stdout).toBe("");
    const lines = stderr.split("\n").filter((line) => line.trim() !== "");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^identity: cannot start: ${variable}: `));
    for (const secret of [KAVENEGAR.KAVENEGAR_API_KEY, SMSIR.SMSIR_API_KEY, TWILIO.TWILIO_AUTH_TOKEN]) expect(stderr).not.toContain(secret);
  }, 60_000); // a child process compiling src/main.ts is slow on a busy machine
});

describe.runIf(realStoresAvailable())("a service logging at debug level, whatever the gateways answer", () => {
  let kavenegar: Standin;
  let smsir: Standin;
  let twilio: Standin;
  let service: ServiceProcess;
  let request: BridgeHarness["request"];
  let cleanUp: () => Promise<void>;
  const phones: string[] = [];

  beforeAll(async () => {
    [kavenegar, smsir, twilio] = await Promise.all([startKavenegar(), startSmsir(), startTwilio()]);
    const [database, dataDir] = await Promise.all([freshDatabase(), mkdtemp(join(tmpdir(), "sms-secrets-"))]);
    cleanUp = async () => {
      await Promise.all([database.drop(), rm(dataDir, { recursive: true, force: true }), ...[kavenegar, smsir, twilio].map((s) => s.close())]);
    };
    service = await startServiceProcess({
      ...providersEnv(kavenegar, smsir, twilio),
      SMS_TIMEOUT: "1s",
      LOG_LEVEL: "debug",
      HOST: "127.0.0.1",
      GRPC_PORT: "0",
      HTTP_PORT: "0",
      METRICS_PORT: "off",
      DATABASE_URL: database.url,
      REDIS_URL,
      REDIS_KEY_PREFIX: freshKeyPrefix(),
      DATA_DIR: dataDir,
    });
    request = requester(String(service.listening.http));
  }, 60_000);
  afterAll(async () => {
    await service?.stop();
    await cleanUp?.();
  });

  async function sendOtp(): Promise<number> {
    const phone = freshPhone();
    phones.push(phone.e164);
    return (await request("POST", "/api/send-otp/", { json: { phone: phone.local, purpose: "register" } })).status;
  }

  it("writes no key, token or code to stdout or stderr, and logs each provider call", async () => {
    kavenegar.answer("hang");
    smsir.answer(ANSWERS.smsir.errorStatus);
    expect(await sendOtp()).toBe(200); // twilio delivers

    kavenegar.answer(ANSWERS.kavenegar.serverError);
    smsir.answer(ANSWERS.smsir.serverError);
    twilio.answer(ANSWERS.twilio.serverError);
    expect(await sendOtp()).toBe(503);

    kavenegar.answer(ANSWERS.kavenegar.invalidReceptor);
    expect(await sendOtp()).toBe(400);

    kavenegar.answer("ok");
    expect(await sendOtp()).toBe(200);
    await service.stop();

    const output = service.output();
    for (const secret of [...kavenegar.secrets, ...smsir.secrets, ...twilio.secrets]) expect(output).not.toContain(secret);
    const codes = phones.flatMap((phone) => [kavenegar, smsir, twilio].flatMap((s) => (s.requests.length > 0 ? [tryCode(s, phone)] : []))).filter((c) => c !== "");
    expect(codes.length).toBeGreaterThanOrEqual(phones.length);
    for (const code of codes) expect(output).not.toMatch(new RegExp(`(?<!\\d)${code}(?!\\d)`));

    // Kavenegar's time-out was described, its key replaced.
    expect(output).toContain("/v1/[key]/verify/lookup.json did not answer within 1000 ms");
    const calls = service.log.filter((line) => typeof line.provider === "string" && typeof line.outcome === "string");
    expect(calls.map((line) => `${String(line.provider)}:${String(line.outcome)}`)).toEqual(["kavenegar:failed", "smsir:failed", "twilio:ok", "kavenegar:failed", "smsir:failed", "twilio:failed", "kavenegar:invalid", "kavenegar:ok"]);
    for (const line of calls) expect(typeof line.seconds).toBe("number");
  }, 60_000);
});

/** The code `standin` was asked to send to `phone`, or "" when it was asked nothing. */
function tryCode(standin: Standin, phone: string): string {
  try {
    return standin.codeAskedFor(phone);
  } catch {
    return "";
  }
}
