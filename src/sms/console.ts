import type { SmsDelivery, SmsMessage, SmsSender } from "./sender.js";

/** The one logger method the console provider needs (a pino logger fits). */
export interface SmsLogger {
  info(obj: object, msg: string): void;
}

/**
 * The development provider: instead of sending, writes the code to the log so a
 * developer can log in without an SMS gateway. Production refuses to start with it.
 */
export function createConsoleSender(logger: SmsLogger): SmsSender {
  return {
    name: "console",
    async send(sms: SmsMessage): Promise<SmsDelivery> {
      // The only place a one-time code is ever logged: in development the log *is*
      // the delivery channel. Every other module must keep codes out of logs.
      logger.info({ sms: { to: sms.to, purpose: sms.purpose, code: sms.code } }, "SMS not sent (console provider): one-time code");
      return { provider: "console" };
    },
  };
}
