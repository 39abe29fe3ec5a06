import type { SmsConfig } from "../config.js";
import { AppError, UnavailableError } from "../core/errors.js";
import { createGateway, numberAt } from "./http.js";
import type { SmsDelivery, SmsSender } from "./sender.js";

export type TwilioOptions = NonNullable<SmsConfig["twilio"]> & { timeoutMs: number };

/** Twilio error codes meaning the `To` number is invalid (21211) or not a mobile (21614). */
const INVALID_TO = new Set([21211, 21614]);

/**
 * Twilio's Messages API: `POST {base}/2010-04-01/Accounts/{sid}/Messages.json` with
 * HTTP Basic auth (account SID, auth token) and form fields `To` (E.164), `From` or
 * `MessagingServiceSid`, and `Body` (our text). Any 2xx is success; a 400 carrying
 * code 21211 or 21614 is an invalid number.
 */
export function createTwilioSender(options: TwilioOptions): SmsSender {
  const url = new URL(`${options.baseUrl.replace(/\/+$/, "")}/2010-04-01/Accounts/${encodeURIComponent(options.accountSid)}/Messages.json`);
  const authorization = `Basic ${Buffer.from(`${options.accountSid}:${options.authToken}`).toString("base64")}`;
  // The messaging service, when set, picks the sender itself (Twilio's recommended form).
  const origin: Record<string, string> = options.messagingServiceSid !== undefined ? { MessagingServiceSid: options.messagingServiceSid } : { From: options.from ?? "" };
  const gateway = createGateway({ provider: "twilio", timeoutMs: options.timeoutMs });
  return {
    name: "twilio",
    async send(sms): Promise<SmsDelivery> {
      const body = new URLSearchParams({ To: sms.to, ...origin, Body: sms.message }).toString();
      const answer = await gateway.call({ method: "POST", url, headers: { authorization, "content-type": "application/x-www-form-urlencoded" }, body });
      if (answer.status >= 200 && answer.status < 300) return { provider: "twilio" };
      const code = numberAt(answer.json, "code");
      if (answer.status === 400 && code !== undefined && INVALID_TO.has(code)) throw new AppError("invalid_phone", `twilio: invalid To (${code})`);
      throw new UnavailableError("sms", `twilio answered HTTP ${answer.status}${code === undefined ? "" : ` with code ${code}`}`);
    },
    close: () => gateway.close(),
  };
}
