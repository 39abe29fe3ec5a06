import type { SmsConfig } from "../config.js";
import { UnavailableError } from "../core/errors.js";
import { createGateway, numberAt } from "./http.js";
import type { SmsDelivery, SmsSender } from "./sender.js";

export type SmsirOptions = NonNullable<SmsConfig["smsir"]> & { timeoutMs: number };

/**
 * SMS.ir's verify API: `POST {base}/v1/send/verify` with the key in `x-api-key` and
 * JSON `{mobile, templateId, parameters: [{name, value}]}`; the text is the template's,
 * the code its `codeParam` parameter. Success is `status` 1.
 *
 * SMS.ir delivers to Iranian numbers only, written as its documentation writes them:
 * the national number without the leading 0 (`9123456789`). It says it cannot reach
 * any other number, so a failover list moves on to a provider that can.
 */
export function createSmsirSender(options: SmsirOptions): SmsSender {
  const url = new URL(`${options.baseUrl.replace(/\/+$/, "")}/v1/send/verify`);
  const gateway = createGateway({ provider: "smsir", timeoutMs: options.timeoutMs });
  return {
    name: "smsir",
    reaches: iranian,
    async send(sms): Promise<SmsDelivery> {
      if (!iranian(sms.to)) throw new UnavailableError("sms", "smsir sends to Iranian numbers only");
      const body = JSON.stringify({ mobile: sms.to.slice(3), templateId: options.templateId, parameters: [{ name: options.codeParam, value: sms.code }] });
      const answer = await gateway.call({ method: "POST", url, headers: { "content-type": "application/json", accept: "application/json", "x-api-key": options.apiKey }, body });
      const status = numberAt(answer.json, "status");
      if (answer.status >= 200 && answer.status < 300 && status === 1) return { provider: "smsir" };
      throw new UnavailableError("sms", `smsir answered HTTP ${answer.status}${status === undefined ? "" : ` with status ${status}`}`);
    },
    close: () => gateway.close(),
  };
}

function iranian(e164: string): boolean {
  return e164.startsWith("+98");
}
