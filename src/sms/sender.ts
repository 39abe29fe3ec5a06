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

/** Who took the message: a failover list answers with the provider that accepted it. */
export interface SmsDelivery {
  provider: string;
}

/**
 * Delivers a message or rejects. A rejection means the message may not have been
 * sent, so the caller must not leave the code usable. Providers reject with
 * `UnavailableError("sms", ...)`, whose message never holds the code or a secret,
 * or with `AppError("invalid_phone")` when the provider says the number itself is wrong.
 */
export interface SmsSender {
  readonly name: string;
  send(sms: SmsMessage): Promise<SmsDelivery>;
  /** Whether it can deliver to this E.164 number at all (unset: any number). A
   * failover list passes over a provider that cannot, without counting it a failure. */
  reaches?(to: string): boolean;
  /** Lets go of pooled connections (providers that keep some). */
  close?(): Promise<void>;
}
