import type { Locale } from "../config.js";

/** One text message carrying a one-time code, as a provider delivers it. */
export interface SmsMessage {
  /** The recipient, in E.164 (`+989123456789`). */
  to: string;
  /** The human text, already localized. */
  message: string;
  /** The one-time code itself, for providers that template their own text. */
  code: string;
  purpose: "register" | "login";
}

/**
 * Delivers a message or rejects. A rejection means the message may not have been
 * sent, so the caller must not leave the code usable. Providers reject with
 * `UnavailableError("sms", ...)`, whose message never holds the code or a secret.
 */
export interface SmsSender {
  readonly name: string;
  send(sms: SmsMessage): Promise<void>;
}

/** A one-time code to text, in the language of the request that asked for it. */
export interface CodeSms {
  to: string;
  code: string;
  purpose: "register" | "login";
  locale: Locale;
}

/** What the domain sends codes through: the words around the code are written on the SMS side. */
export interface CodeSender {
  readonly name: string;
  sendCode(sms: CodeSms): Promise<void>;
}
