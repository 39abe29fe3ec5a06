/**
 * The text of a code SMS through real gateways' stand-ins, over gRPC and over the
 * bridge's /api, on real PostgreSQL and Redis: SMS_TEMPLATE_EN / SMS_TEMPLATE_FA by
 * the request's language, the WebOTP line last, as Kavenegar's sms/send `message`
 * and Twilio's `Body` carry it. Under the failover list kavenegar,twilio with
 * Kavenegar down, the trail's `otp.sent` (read through AdminService with an admin
 * service key) names Twilio, the provider that delivered, and the metrics count
 * both providers called.
 */
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { AdminService } from "../gen/identity/v1/admin_pb.js";
import { OtpPurpose } from "../gen/identity/v1/auth_pb.js";
import { createServiceMetrics, type ServiceMetrics } from "../src/observability/metrics.js";
import { startBridgeHarness } from "./support/bridge-server.js";
import { freshStores, startService } from "./support/grpc-harness.js";
import { freshPhone } from "./support/phones.js";
import { parsePrometheusText } from "./support/prometheus-text.js";
import { realStoresAvailable } from "./support/services.js";
import { ANSWERS, providersEnv, startKavenegar, startTwilio, type Standin } from "./support/sms-standins.js";

const ADMIN_KEY = "desk-5f0c9a1e7b3d2c4a6e8f1b0d";

const TEXTS = {
  SMS_TEMPLATE_EN: "Acme sign-in code: {code}\\nValid for {minutes} minutes. Never share it.",
  SMS_TEMPLATE_FA: "کد ورود به اکمی: {code}\\nتا {minutes} دقیقه معتبر است؛ آن را به کسی ندهید.",
  SMS_WEBOTP_DOMAIN: "login.acme.example",
  OTP_TTL: "150s",
};
const english = (code: string) => `Acme sign-in code: ${code}\nValid for 3 minutes. Never share it.\n@login.acme.example #${code}`;
const persian = (code: string) => `کد ورود به اکمی: ${code}\nتا ۳ دقیقه معتبر است؛ آن را به کسی ندهید.\n@login.acme.example #${code}`;

/** What a surface must do: ask for a code (in a language, or none), and read the trail's otp.sent events. */
interface Surface {
  sendOtp(phone: string, acceptLanguage?: string): Promise<void>;
  /** `details` of the otp.sent events at or after `since`, as the admin API lists them. */
  otpSentSince(since: Date): Promise<unknown[]>;
}

interface Running {
  surface: Surface;
  close(): Promise<void>;
}

/** The form field `name` of a stand-in's last request. */
function lastField(standin: Standin, name: string): string | null {
  const request = standin.requests.at(-1);
  if (request === undefined) throw new Error(`${standin.name} was sent nothing`);
  return new URLSearchParams(request.body).get(name);
}

function textContract(name: string, start: (env: Record<string, string>, metrics: ServiceMetrics) => Promise<Running>): void {
  describe.runIf(realStoresAvailable())(`SMS texts over ${name}`, () => {
    let kavenegar: Standin;
    let twilio: Standin;
    let metrics: ServiceMetrics;
    let running: Running;
    let surface: Surface;

    beforeAll(async () => {
      // Kavenegar with a sender line: sms/send carries our text, as Twilio does.
      [kavenegar, twilio] = await Promise.all([startKavenegar({ sender: "10004346" }), startTwilio()]);
      metrics = createServiceMetrics({ defaultMetrics: false });
      running = await start({ ...providersEnv(kavenegar, twilio), ...TEXTS, SERVICE_API_KEYS: `desk:${ADMIN_KEY}:admin` }, metrics);
      surface = running.surface;
    });
    afterAll(async () => {
      await running?.close();
      await Promise.all([kavenegar?.close(), twilio?.close()]);
    });
    beforeEach(() => {
      for (const s of [kavenegar, twilio]) {
        s.answer("ok");
        s.requests.length = 0;
      }
    });

    it("words an English request's code with SMS_TEMPLATE_EN and the WebOTP line, as Kavenegar's sms/send message", async () => {
      const phone = freshPhone().e164;
      await surface.sendOtp(phone, "en-US,en;q=0.9");
      expect(lastField(kavenegar, "message")).toBe(english(kavenegar.codeFor(phone)));
    });

    it("words a request without a language in Persian (SMS_TEMPLATE_FA), the minutes in Persian digits", async () => {
      const phone = freshPhone().e164;
      await surface.sendOtp(phone);
      expect(lastField(kavenegar, "message")).toBe(persian(kavenegar.codeFor(phone)));
    });

    it("hands the same text to Twilio, as its Body, when Kavenegar fails", async () => {
      kavenegar.answer(ANSWERS.kavenegar.serverError);
      const phone = freshPhone().e164;
      await surface.sendOtp(phone, "en");
      const code = twilio.codeFor(phone);
      expect(lastField(twilio, "Body")).toBe(english(code));
      expect(lastField(kavenegar, "message")).toBe(english(code));
    });

    it("records otp.sent naming twilio, which delivered after kavenegar failed, and counts a call to each", async () => {
      const scrape = async () => parsePrometheusText(await metrics.registry.metrics());
      const sent = (provider: string, result: string) => ({ purpose: "register", provider, result });
      const before = await scrape();
      kavenegar.answer(ANSWERS.kavenegar.noCredit);
      const since = new Date();
      await surface.sendOtp(freshPhone().e164, "fa");

      expect(await surface.otpSentSince(since)).toEqual([{ purpose: "register", provider: "twilio" }]);
      const after = await scrape();
      const moved = (name: string, labels: Record<string, string>) => after.value(name, labels) - before.value(name, labels);
      expect(moved("identity_otp_sent_total", sent("kavenegar", "error"))).toBe(1);
      expect(moved("identity_otp_sent_total", sent("twilio", "ok"))).toBe(1);
      expect(moved("identity_otp_sent_total", sent("kavenegar", "ok"))).toBe(0);
      expect(moved("identity_sms_duration_seconds_count", { provider: "kavenegar" })).toBe(1);
      expect(moved("identity_sms_duration_seconds_count", { provider: "twilio" })).toBe(1);
    });
  });
}

textContract("gRPC", async (env, metrics) => {
  const stores = await freshStores("real");
  const service = await startService(stores, { env, metrics });
  const admin = createClient(AdminService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.port}` }));
  return {
    surface: {
      async sendOtp(phone, acceptLanguage) {
        await service.auth.sendOtp({ phone, purpose: OtpPurpose.REGISTER }, acceptLanguage === undefined ? {} : { headers: { "accept-language": acceptLanguage } });
      },
      async otpSentSince(since) {
        const { events } = await admin.listAuditEvents({ type: "otp.sent", since: timestampFromDate(since) }, { headers: { "x-api-key": ADMIN_KEY } });
        return events.map((event) => event.details);
      },
    },
    async close() {
      await service.stop();
      await stores.drop();
    },
  };
});

textContract("/api", async (env, metrics) => {
  const h = await startBridgeHarness({ env, build: { metrics } });
  return {
    surface: {
      async sendOtp(phone, acceptLanguage) {
        const headers: Record<string, string> = acceptLanguage === undefined ? {} : { "accept-language": acceptLanguage };
        const answer = await h.request("POST", "/api/send-otp/", { json: { phone, purpose: "register" }, headers });
        if (answer.status !== 200) throw new Error(`send-otp answered ${answer.status} ${JSON.stringify(answer.body)}`);
      },
      async otpSentSince(since) {
        const query = new URLSearchParams({ type: "otp.sent", since: since.toISOString() });
        const answer = await h.request("GET", `/api/admin/audit/?${query}`, { headers: { "x-api-key": ADMIN_KEY } });
        if (answer.status !== 200) throw new Error(`the audit list answered ${answer.status} ${JSON.stringify(answer.body)}`);
        return (answer.body.data.events as { details: unknown }[]).map((event) => event.details);
      },
    },
    close: () => h.close(),
  };
});
