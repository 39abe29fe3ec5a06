import { parseWebhookUrl } from "../config.js";
import { createConsoleSender, type SmsLogger } from "./console.js";
import type { SmsSender } from "./sender.js";
import { createWebhookSender } from "./webhook.js";

export type { CodeSender, CodeSms } from "../core/ports/code-sender.js";
export type { SmsMessage, SmsSender } from "./sender.js";
export { codeSender, codeText } from "./code-text.js";
export { observedSender } from "./observed.js";
export type { SmsLogger } from "./console.js";
export { createConsoleSender } from "./console.js";
export { createWebhookSender, type WebhookSenderOptions } from "./webhook.js";

export interface SmsConfig {
  provider: "console" | "webhook";
  webhookUrl?: string;
  webhookSecret?: string;
  timeoutMs?: number;
}

/** Builds the sender `SMS_PROVIDER` names. */
export function createSmsSender(config: SmsConfig, logger: SmsLogger): SmsSender {
  switch (config.provider) {
    case "console":
      return createConsoleSender(logger);
    case "webhook":
      return createWebhookSender({ url: parseWebhookUrl(config.webhookUrl).href, secret: config.webhookSecret, timeoutMs: config.timeoutMs });
  }
}
