/**
 * A real SMS webhook receiver (SMS_PROVIDER=webhook points at it): records each
 * JSON body the service POSTs, so tests read one-time codes the way a gateway
 * would receive them. It can be told to fail, to test `sms_unavailable`.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

export interface Sms {
  to: string;
  message: string;
  code: string;
  purpose: "register" | "login";
}

export interface SmsInbox {
  url: string;
  readonly received: readonly Sms[];
  /** The last code sent to `phone` (E.164), optionally for one purpose. */
  lastCode(phone: string, purpose?: Sms["purpose"]): string;
  /** Answer 500 from now on (true) or 200 again (false). */
  failing(fail: boolean): void;
  close(): Promise<void>;
}

export async function startSmsInbox(): Promise<SmsInbox> {
  const received: Sms[] = [];
  let fail = false;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      if (fail) {
        res.writeHead(500).end();
        return;
      }
      received.push(JSON.parse(Buffer.concat(chunks).toString("utf8")) as Sms);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/sms`,
    received,
    lastCode(phone, purpose) {
      const sms = received.findLast((m) => m.to === phone && (purpose === undefined || m.purpose === purpose));
      if (sms === undefined) throw new Error(`no SMS was sent to ${phone}`);
      return sms.code;
    },
    failing: (value) => void (fail = value),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
