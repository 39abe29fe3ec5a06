import { createHmac } from "node:crypto";
import { parseWebhookUrl } from "../config.js";
import { UnavailableError } from "../core/errors.js";
import { describeFailure } from "./http.js";
import type { SmsDelivery, SmsMessage, SmsSender } from "./sender.js";

export interface WebhookSenderOptions {
  /** The http(s) endpoint that receives each message as a JSON POST. */
  url: string;
  /** When set (non-empty), every request is signed with it; see {@link createWebhookSender}. */
  secret?: string;
  /** How long one request may take, answer included. Default 5000. */
  timeoutMs?: number;
  fetchImpl?: typeof fetch;
  /** Epoch milliseconds; injected so tests can pin the signature timestamp. */
  now?: () => number;
}

/**
 * An SMS provider that POSTs `{"to","message","code","purpose"}` as JSON to `url`
 * and lets the gateway behind it do the sending. Any 2xx answer is success.
 *
 * With a `secret`, two headers let the receiver check the request came from us:
 * - `x-signature-timestamp: <unix seconds>`
 * - `x-signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`
 *
 * The timestamp is inside the signed bytes (joined to the exact body bytes by a
 * `.`) so a captured request cannot be replayed later: receivers recompute the HMAC
 * over `${timestamp}.${rawBody}`, compare in constant time, and refuse timestamps
 * older than a few minutes.
 *
 * A non-2xx answer (redirects included), a network error or the time-out rejects
 * with `UnavailableError("sms", ...)`.
 */
export function createWebhookSender(options: WebhookSenderOptions): SmsSender {
  // Refused at start-up (ConfigError naming SMS_WEBHOOK_URL), not at the first sign-up.
  const url = parseWebhookUrl(options.url);
  // Errors name only the origin: a path or query may carry the gateway's credentials.
  const target = url.origin;
  const { secret, timeoutMs = 5000, fetchImpl = fetch, now = Date.now } = options;

  return {
    name: "webhook",
    async send(sms: SmsMessage): Promise<SmsDelivery> {
      const body = JSON.stringify({ to: sms.to, message: sms.message, code: sms.code, purpose: sms.purpose });
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (secret) {
        const timestamp = String(Math.floor(now() / 1000));
        headers["x-signature-timestamp"] = timestamp;
        headers["x-signature"] = `sha256=${sign(secret, timestamp, body)}`;
      }

      let response: Response;
      try {
        response = await fetchImpl(url, {
          method: "POST",
          headers,
          body,
          // A redirect would resend the code and signature to wherever it points.
          redirect: "manual",
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (error) {
        throw new UnavailableError("sms", `SMS webhook ${describeFailure(error, target, timeoutMs)}`, { cause: error });
      }

      // Nothing in the answer is used; cancelling the body releases the socket
      // instead of leaving it waiting for a reader.
      await response.body?.cancel().catch(() => undefined);
      if (!response.ok) {
        throw new UnavailableError("sms", `SMS webhook ${target} answered HTTP ${response.status}`);
      }
      return { provider: "webhook" };
    },
  };
}

/** The signature of one request: HMAC-SHA256 over `${timestamp}.${body}`, in hex. */
function sign(secret: string, timestamp: string, body: string): string {
  return createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex");
}
