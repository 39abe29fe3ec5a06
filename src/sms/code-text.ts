/** The text of a one-time-code SMS, in the language of the request that asked for it. */
import type { Locale } from "../config.js";
import type { CodeSender } from "../core/ports/code-sender.js";
import type { SmsSender } from "./sender.js";

const TEXT: Readonly<Record<Locale, (code: string) => string>> = {
  fa: (code) => `کد تأیید شما: ${code}`,
  en: (code) => `Your verification code: ${code}`,
};

export function codeText(code: string, locale: Locale): string {
  return TEXT[locale](code);
}

/** A provider that is handed codes: each is worded in its request's language, then sent. */
export function codeSender(provider: SmsSender): CodeSender {
  return {
    name: provider.name,
    sendCode: ({ to, code, purpose, locale }) => provider.send({ to, message: codeText(code, locale), code, purpose }),
  };
}
