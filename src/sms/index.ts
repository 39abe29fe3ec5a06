import { ConfigError, parseWebhookUrl, type SmsConfig, type SmsProviderName } from "../config.js";
import type { BreakerSettings } from "./circuit-breaker.js";
import { createConsoleSender } from "./console.js";
import { createFailoverSender, type SmsAttempt, type SmsCallLogger } from "./failover.js";
import { createKavenegarSender } from "./kavenegar.js";
import type { SmsSender } from "./sender.js";
import { createSmsirSender } from "./smsir.js";
import { createTwilioSender } from "./twilio.js";
import { createWebhookSender } from "./webhook.js";

export type { CodeSender, CodeSms } from "../core/ports/code-sender.js";
export type { SmsDelivery, SmsMessage, SmsSender } from "./sender.js";
export { codeSender, codeText, type CodeTextSettings } from "./code-text.js";
export { countSmsAttempts, observedSender } from "./observed.js";
export type { SmsLogger } from "./console.js";
export { createConsoleSender } from "./console.js";
export { createWebhookSender, type WebhookSenderOptions } from "./webhook.js";
export { createKavenegarSender } from "./kavenegar.js";
export { createSmsirSender } from "./smsir.js";
export { createTwilioSender } from "./twilio.js";
export { createFailoverSender, type FailoverOptions, type SmsAttempt, type SmsCallLogger } from "./failover.js";
export type { BreakerSettings } from "./circuit-breaker.js";

export interface SmsSenderOptions {
  /** Called for each provider of each message (the metrics hook). */
  onAttempt?(attempt: SmsAttempt): void;
  breaker?: Partial<BreakerSettings>;
  /** Epoch milliseconds, for the circuit breakers. */
  now?: () => number;
}

/**
 * Builds the sender `SMS_PROVIDER` names: its providers in order behind one failover
 * sender (one provider too, for the per-call log line and the hook).
 */
export function createSmsSender(config: SmsConfig, logger: SmsCallLogger, options: SmsSenderOptions = {}): SmsSender {
  const providers = config.providers.map((name) => createProvider(name, config, logger));
  return createFailoverSender(providers, { logger, ...options });
}

function createProvider(name: SmsProviderName, config: SmsConfig, logger: SmsCallLogger): SmsSender {
  const { timeoutMs } = config;
  switch (name) {
    case "console":
      return createConsoleSender(logger);
    case "webhook":
      return createWebhookSender({ url: parseWebhookUrl(config.webhook?.url).href, secret: config.webhook?.secret, timeoutMs });
    case "kavenegar":
      return createKavenegarSender({ ...settings(config.kavenegar, "KAVENEGAR_API_KEY"), timeoutMs });
    case "smsir":
      return createSmsirSender({ ...settings(config.smsir, "SMSIR_API_KEY"), timeoutMs });
    case "twilio":
      return createTwilioSender({ ...settings(config.twilio, "TWILIO_ACCOUNT_SID"), timeoutMs });
  }
}

/** loadConfig fills a named provider's settings; a hand-made config may not have. */
function settings<T>(value: T | undefined, variable: string): T {
  if (value === undefined) throw new ConfigError(variable, "is required for the SMS provider named");
  return value;
}
