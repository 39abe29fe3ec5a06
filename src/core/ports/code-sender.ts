import type { Locale } from "../../config.js";

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
  /** Resolves once the code is on its way, naming the provider that took it (one of a
   * failover list): the trail records who delivered. */
  sendCode(sms: CodeSms): Promise<{ provider: string }>;
}
