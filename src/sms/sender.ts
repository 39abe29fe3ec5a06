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
