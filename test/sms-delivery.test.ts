/**
 * SMS delivery end to end, on real PostgreSQL and Redis, over gRPC and over the
 * bridge's /api: send-otp through the Kavenegar, SMS.ir and Twilio stand-ins (in one
 * failover list), and the code the gateway received registers; a failing gateway
 * hands over; an invalid-number answer is 400 invalid_phone with no failover; when
 * every gateway fails the answer is 503 sms_unavailable and that code is dead.
 */
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { OtpPurpose } from "../gen/identity/v1/auth_pb.js";
import { startBridgeHarness, type BridgeHarness } from "./support/bridge-server.js";
import { failure, freshStores, startService, type Service, type Stores } from "./support/grpc-harness.js";
import { freshPhone } from "./support/phones.js";
import { realStoresAvailable } from "./support/services.js";
import { ANSWERS, providersEnv, startKavenegar, startSmsir, startTwilio, type Standin } from "./support/sms-standins.js";

/** A German mobile: SMS.ir cannot reach it, Kavenegar and Twilio can. */
let germanSequence = Math.floor(Math.random() * 10_000_000);
function germanMobile(): string {
  germanSequence = (germanSequence + 1) % 10_000_000;
  return `+491512${String(germanSequence).padStart(7, "0")}`;
}

/** What a surface must do: ask for a code, register with one; each answers its own way. */
interface Surface {
  /** Resolves "ok" or the refusal's reason and status (HTTP status, or gRPC code name). */
  sendOtp(phone: string): Promise<"ok" | { status: string; reason: string }>;
  register(phone: string, code: string): Promise<"ok" | { status: string; reason: string }>;
}

/** The same sentences, asked of one surface. */
function deliveryContract(name: string, statusOf: { invalid_phone: string; sms_unavailable: string }, start: (env: Record<string, string>) => Promise<{ surface: Surface; close(): Promise<void> }>): void {
  describe.runIf(realStoresAvailable())(`SMS delivery over ${name}`, () => {
    let kavenegar: Standin;
    let smsir: Standin;
    let twilio: Standin;
    let running: { surface: Surface; close(): Promise<void> };
    let surface: Surface;

    beforeAll(async () => {
      [kavenegar, smsir, twilio] = await Promise.all([startKavenegar(), startSmsir(), startTwilio()]);
      running = await start({ ...providersEnv(kavenegar, smsir, twilio), SMS_TIMEOUT: "2s" });
      surface = running.surface;
    });
    afterAll(async () => {
      await running?.close();
      await Promise.all([kavenegar, smsir, twilio].map((s) => s?.close()));
    });
    beforeEach(() => {
      for (const s of [kavenegar, smsir, twilio]) {
        s.answer("ok");
        s.requests.length = 0;
      }
    });

    it("sends through kavenegar, first in the list, and the code it received registers", async () => {
      const phone = freshPhone().e164;
      expect(await surface.sendOtp(phone)).toBe("ok");
      expect(await surface.register(phone, kavenegar.codeFor(phone))).toBe("ok");
      expect([smsir.requests.length, twilio.requests.length]).toEqual([0, 0]);
    });

    it("hands over to smsir when kavenegar answers 5xx, and smsir's code registers", async () => {
      kavenegar.answer(ANSWERS.kavenegar.serverError);
      const phone = freshPhone().e164;
      expect(await surface.sendOtp(phone)).toBe("ok");
      expect(kavenegar.requests).toHaveLength(1);
      expect(await surface.register(phone, smsir.codeFor(phone))).toBe("ok");
    });

    it("reaches a number outside Iran through twilio when kavenegar fails (smsir cannot reach it), and twilio's code registers", async () => {
      kavenegar.answer(ANSWERS.kavenegar.noCredit);
      const phone = germanMobile();
      expect(await surface.sendOtp(phone)).toBe("ok");
      expect(smsir.requests).toHaveLength(0);
      expect(await surface.register(phone, twilio.codeFor(phone))).toBe("ok");
    });

    it("answers 400 invalid_phone when the gateway says the number is invalid, asking no other gateway", async () => {
      kavenegar.answer(ANSWERS.kavenegar.invalidReceptor);
      const refused = await surface.sendOtp(freshPhone().e164);
      expect(refused).toEqual({ status: statusOf.invalid_phone, reason: "invalid_phone" });
      expect([kavenegar.requests.length, smsir.requests.length, twilio.requests.length]).toEqual([1, 0, 0]);
    });

    it("answers 503 sms_unavailable when every gateway fails, and the code they were sent is dead", async () => {
      kavenegar.answer(ANSWERS.kavenegar.serverError);
      smsir.answer(ANSWERS.smsir.errorStatus);
      twilio.answer("hang");
      const phone = freshPhone().e164;
      expect(await surface.sendOtp(phone)).toEqual({ status: statusOf.sms_unavailable, reason: "sms_unavailable" });
      const code = twilio.codeAskedFor(phone);
      expect(code).toBe(kavenegar.codeAskedFor(phone));

      for (const s of [kavenegar, smsir, twilio]) s.answer("ok");
      expect(await surface.register(phone, code)).toMatchObject({ reason: "otp_expired" });
    });
  });
}

deliveryContract("gRPC", { invalid_phone: "InvalidArgument", sms_unavailable: "Unavailable" }, async (env) => {
  const stores: Stores = await freshStores("real");
  const service: Service = await startService(stores, { env });
  const refusal = async (call: Promise<unknown>) => {
    try {
      await call;
      return "ok" as const;
    } catch {
      const { code, reason } = await failure(call);
      return { status: Code[code], reason };
    }
  };
  return {
    surface: {
      sendOtp: (phone) => refusal(service.auth.sendOtp({ phone, purpose: OtpPurpose.REGISTER })),
      register: (phone, code) => refusal(service.auth.register({ phone, code, firstName: "Sara", lastName: "Ahmadi" })),
    },
    async close() {
      await service.stop();
      await stores.drop();
    },
  };
});

deliveryContract("/api", { invalid_phone: "400", sms_unavailable: "503" }, async (env) => {
  const h: BridgeHarness = await startBridgeHarness({ env });
  const answer = async (path: string, json: unknown, success: number) => {
    const { status, body } = await h.request("POST", path, { json });
    return status === success ? ("ok" as const) : { status: String(status), reason: String(body?.data?.code) };
  };
  return {
    surface: {
      sendOtp: (phone) => answer("/api/send-otp/", { phone, purpose: "register" }, 200),
      register: (phone, code) => answer("/api/register/", { phone, code, first_name: "Sara", last_name: "Ahmadi" }, 201),
    },
    close: () => h.close(),
  };
});
