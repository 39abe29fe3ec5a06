/** The text of a one-time-code SMS, in the language of the request that asked for it. */
import type { Locale, SmsTextConfig } from "../config.js";
import type { CodeSender } from "../core/ports/code-sender.js";
import type { SmsSender } from "./sender.js";

/** The templates and WebOTP domain (SMS_TEMPLATE_*, SMS_WEBOTP_DOMAIN), and how long a code lives (OTP_TTL). */
export interface CodeTextSettings extends SmsTextConfig {
  ttlMs: number;
}

/**
 * The locale's template with `{code}` and `{minutes}` (the code's lifetime in whole
 * minutes, rounded up) filled in; with a WebOTP domain, the last line is
 * `@<domain> #<code>`, which lets a browser on that domain offer the code.
 *
 * The code is always in ASCII digits, even in Persian: WebOTP reads only those, and
 * people copying the code paste it into fields that expect them. The minutes are
 * words for people, so they take the locale's digits (Persian ones in `fa`).
 */
export function codeText(code: string, locale: Locale, settings: CodeTextSettings): string {
  const minutes = new Intl.NumberFormat(locale, { useGrouping: false }).format(Math.ceil(settings.ttlMs / 60_000));
  // A function, not a replacement string: `$&` and the like in a template stay as written.
  const text = settings.templates[locale].replace(/\{(code|minutes)\}/g, (_, name: string) => (name === "code" ? code : minutes));
  return settings.webOtpDomain === undefined ? text : `${text.trimEnd()}\n@${settings.webOtpDomain} #${code}`;
}

/** A provider that is handed codes: each is worded in its request's language, then sent. */
export function codeSender(provider: SmsSender, settings: CodeTextSettings): CodeSender {
  return {
    name: provider.name,
    sendCode: ({ to, code, purpose, locale }) => provider.send({ to, message: codeText(code, locale, settings), code, purpose }),
  };
}
