import type { SmsConfig } from "../config.js";
import { AppError, UnavailableError } from "../core/errors.js";
import { createGateway, numberAt, type GatewayAnswer } from "./http.js";
import type { SmsDelivery, SmsMessage, SmsSender } from "./sender.js";

export type KavenegarOptions = NonNullable<SmsConfig["kavenegar"]> & { timeoutMs: number };

/** Kavenegar's answer status meaning the receptor is not a number it can send to. */
const INVALID_RECEPTOR = 411;

/**
 * Kavenegar: with a template, `GET {base}/v1/{key}/verify/lookup.json` (the text lives
 * at the provider, the code is its `token`); without one, `POST {base}/v1/{key}/sms/send.json`
 * with our text from `sender`. Success is HTTP 200 with `return.status` 200; 411 is an
 * invalid receptor. The key sits in the URL path, so every description of a URL here
 * shows `[key]` in its place.
 */
export function createKavenegarSender(options: KavenegarOptions): SmsSender {
  const base = options.baseUrl.replace(/\/+$/, "");
  const key = encodeURIComponent(options.apiKey);
  const keyed = `${base}/v1/${key}`;
  const gateway = createGateway({
    provider: "kavenegar",
    timeoutMs: options.timeoutMs,
    describe: (url) => url.origin + url.pathname.split("/").map((segment) => (segment === key ? "[key]" : segment)).join("/"),
  });

  function lookup(sms: SmsMessage, template: string): Promise<GatewayAnswer> {
    const url = new URL(`${keyed}/verify/lookup.json`);
    url.search = new URLSearchParams({ receptor: receptor(sms.to), token: sms.code, template }).toString();
    return gateway.call({ method: "GET", url });
  }

  function send(sms: SmsMessage, sender: string): Promise<GatewayAnswer> {
    const body = new URLSearchParams({ receptor: receptor(sms.to), message: sms.message, sender }).toString();
    return gateway.call({ method: "POST", url: new URL(`${keyed}/sms/send.json`), headers: { "content-type": "application/x-www-form-urlencoded" }, body });
  }

  return {
    name: "kavenegar",
    async send(sms): Promise<SmsDelivery> {
      const answer = options.template !== undefined ? await lookup(sms, options.template) : await send(sms, options.sender ?? "");
      const status = numberAt(answer.json, "return", "status");
      if (answer.status === 200 && status === 200) return { provider: "kavenegar" };
      if (status === INVALID_RECEPTOR || answer.status === INVALID_RECEPTOR) throw new AppError("invalid_phone", "kavenegar: invalid receptor");
      throw new UnavailableError("sms", `kavenegar answered HTTP ${answer.status}${status === undefined ? "" : ` with status ${status}`}`);
    },
    close: () => gateway.close(),
  };
}

/** Iranian numbers in the national form Kavenegar documents (`09…`); others as `00<country><number>`. */
export function receptor(e164: string): string {
  return e164.startsWith("+98") ? `0${e164.slice(3)}` : `00${e164.slice(1)}`;
}
