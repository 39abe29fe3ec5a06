/**
 * A real HTTP endpoint for the webhook SMS provider: the service under test sends
 * its codes here exactly as it would to an SMS gateway, and tests read them back.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface ReceivedSms {
  to: string;
  message: string;
  code: string;
  purpose: "register" | "login";
}

export interface SmsInbox {
  url: string;
  received: ReceivedSms[];
  /** The last code sent to `phone` (E.164) for `purpose`. */
  codeFor(phone: string, purpose?: "register" | "login"): string;
  /** Answer the next sends with this HTTP status (e.g. 500) until reset to 200. */
  failWith(status: number): void;
  close(): Promise<void>;
}

export async function startSmsInbox(): Promise<SmsInbox> {
  const received: ReceivedSms[] = [];
  let status = 200;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (status === 200) received.push(JSON.parse(Buffer.concat(chunks).toString("utf8")) as ReceivedSms);
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/sms`,
    received,
    codeFor(phone, purpose) {
      for (let i = received.length - 1; i >= 0; i--) {
        const sms = received[i]!;
        if (sms.to === phone && (purpose === undefined || sms.purpose === purpose)) return sms.code;
      }
      throw new Error(`no SMS was sent to ${phone}${purpose ? ` for ${purpose}` : ""}`);
    },
    failWith(next) {
      status = next;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
