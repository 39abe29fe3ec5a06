/** The SMS provider with a CLIENT span per message: provider and purpose, never the
 * recipient, the text or the code. */
import type { SmsSender } from "../../sms/sender.js";
import type { ChildSpan } from "./child-span.js";

export function traceSmsSender(sender: SmsSender, span: ChildSpan): SmsSender {
  const name = `sms ${sender.name}`;
  return {
    name: sender.name,
    send: (sms) => span(name, { "identity.sms.provider": sender.name, "identity.otp.purpose": sms.purpose }, () => sender.send(sms)),
  };
}
