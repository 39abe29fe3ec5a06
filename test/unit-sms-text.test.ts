/**
 * The words of a code SMS: the request's language's template (SMS_TEMPLATE_FA /
 * SMS_TEMPLATE_EN, or the defaults) with `{code}` and `{minutes}` filled in, and
 * with SMS_WEBOTP_DOMAIN the WebOTP line `@<domain> #<code>` last.
 */
import { describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { codeSender, codeText, type CodeTextSettings, type SmsMessage } from "../src/sms/index.js";

/** The settings the service builds from `env`. */
function settings(env: Record<string, string> = {}): CodeTextSettings {
  const config = loadConfig(env);
  return { ...config.smsText, ttlMs: config.otp.ttlMs };
}

describe("the text of a code SMS", () => {
  it("says the code and its two minutes in Persian by default, the minutes in Persian digits and the code in ASCII ones", () => {
    expect(codeText("048213", "fa", settings())).toBe("کد تأیید شما: 048213\nاین کد تا ۲ دقیقه معتبر است.");
  });

  it("says them in English for an English request", () => {
    expect(codeText("048213", "en", settings())).toBe("Your verification code: 048213\nIt expires in 2 minutes.");
  });

  it("counts OTP_TTL in whole minutes, rounded up", () => {
    expect(codeText("1234", "en", settings({ OTP_TTL: "61s" }))).toBe("Your verification code: 1234\nIt expires in 2 minutes.");
    expect(codeText("1234", "en", settings({ OTP_TTL: "10m" }))).toBe("Your verification code: 1234\nIt expires in 10 minutes.");
    expect(codeText("1234", "fa", settings({ OTP_TTL: "15m" }))).toBe("کد تأیید شما: 1234\nاین کد تا ۱۵ دقیقه معتبر است.");
    expect(codeText("1234", "fa", settings({ OTP_TTL: "30s" }))).toBe("کد تأیید شما: 1234\nاین کد تا ۱ دقیقه معتبر است.");
  });

  it("fills each language's own template, every placeholder as often as it appears", () => {
    const own = settings({ SMS_TEMPLATE_FA: "{code} کد ورود شماست ({minutes} دقیقه). {code}", SMS_TEMPLATE_EN: "Acme: {code} (valid {minutes} min)" });
    expect(codeText("5521", "fa", own)).toBe("5521 کد ورود شماست (۲ دقیقه). 5521");
    expect(codeText("5521", "en", own)).toBe("Acme: 5521 (valid 2 min)");
  });

  it("leaves $ patterns in a template as written", () => {
    expect(codeText("777001", "en", settings({ SMS_TEMPLATE_EN: "Code $& {code} costs $1" }))).toBe("Code $& 777001 costs $1");
  });

  it("ends with the WebOTP line @domain #code when SMS_WEBOTP_DOMAIN is set, in either language", () => {
    const webOtp = settings({ SMS_WEBOTP_DOMAIN: "login.example.com" });
    expect(codeText("048213", "fa", webOtp)).toBe("کد تأیید شما: 048213\nاین کد تا ۲ دقیقه معتبر است.\n@login.example.com #048213");
    expect(codeText("048213", "en", webOtp)).toBe("Your verification code: 048213\nIt expires in 2 minutes.\n@login.example.com #048213");
  });

  it("puts the WebOTP line right after a template that ends in a line break, with no blank line between", () => {
    const text = codeText("9090", "en", settings({ SMS_TEMPLATE_EN: "Code {code}\\n", SMS_WEBOTP_DOMAIN: "example.org" }));
    expect(text.split("\n")).toEqual(["Code 9090", "@example.org #9090"]);
  });

  it("hands the provider the worded text, the bare code and the purpose", async () => {
    const sent: SmsMessage[] = [];
    const sender = codeSender({ name: "twilio", send: async (sms) => (sent.push(sms), { provider: "twilio" }) }, settings({ SMS_WEBOTP_DOMAIN: "example.org" }));
    expect(await sender.sendCode({ to: "+491512345678", code: "314159", purpose: "login", locale: "en" })).toEqual({ provider: "twilio" });
    expect(sent).toEqual([{ to: "+491512345678", code: "314159", purpose: "login", message: "Your verification code: 314159\nIt expires in 2 minutes.\n@example.org #314159" }]);
  });
});
