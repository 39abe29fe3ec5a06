/** The text of a one-time-code SMS, in the language of the request that asked for it. */
import type { Locale } from "../config.js";
import type { CodeSender } from "../core/ports/code-sender.js";
import type { DomainMetrics } from "../core/ports/metrics.js";
import { observedSender } from "./observed.js";
import type { SmsSender } from "./sender.js";

const TEXT: Readonly<Record<Locale, (code: string) => string>> = {
  fa: (code) => `کد تأیید شما: ${code}`,
  en: (code) => `Your verification code: ${code}`,
};

export function codeText(code: string, locale: Locale): string {
  return TEXT[locale](code);
}

/**
 * A provider that is handed codes: each is worded in its request's language, then
 * sent, and counted by purpose, provider and whether the provider took it.
 */
export function codeSender(provider: SmsSender, metrics: Pick<DomainMetrics, "otpSent" | "smsCall">): CodeSender {
  const observed = observedSender(provider, metrics);
  return {
    name: provider.name,
    async sendCode({ to, code, purpose, locale }) {
      try {
        await observed.send({ to, message: codeText(code, locale), code, purpose });
      } catch (error) {
        metrics.otpSent(purpose, provider.name, "error");
        throw error;
      }
      metrics.otpSent(purpose, provider.name, "ok");
    },
  };
}
