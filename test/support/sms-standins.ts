/**
 * Local stand-ins for the SMS gateways' HTTP APIs (Kavenegar, SMS.ir, Twilio): real
 * HTTP servers on 127.0.0.1 and a free port that check the credentials as the real
 * gateway would, record every request, and answer as told (success by default; any
 * status and JSON body; or never, to outlast the time-out). Tests point the
 * providers' *_BASE_URL at them and read back the codes they "delivered".
 */
import { randomBytes } from "node:crypto";
import http, { type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";

export type GatewayName = "kavenegar" | "smsir" | "twilio";

export interface StandinRequest {
  method: string;
  /** Path and query, as sent. */
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The client's port: requests on one kept-alive connection share it. */
  clientPort: number | undefined;
}

/** How the stand-in answers: an HTTP status with a JSON body, or not at all. */
export type StandinAnswer = { status: number; json: unknown } | "hang";

export interface Standin {
  name: GatewayName;
  baseUrl: string;
  /** The credentials it accepts, as the environment that points a service at it. */
  env: Record<string, string>;
  /** The secrets in `env` (keys, tokens), for asserting they never show. */
  secrets: string[];
  requests: StandinRequest[];
  /** Answer every later request so (until told otherwise); `"ok"` restores success. */
  answer(next: StandinAnswer | "ok"): void;
  /** The last code delivered (answered with success) to `e164`. */
  codeFor(e164: string): string;
  /** The code of the last request for `e164`, delivered or not. */
  codeAskedFor(e164: string): string;
  close(): Promise<void>;
}

/** What one provider's API is: where it answers, who it lets in, what a delivery says. */
interface Api {
  /** The success answer, or why the request is refused (wrong path, credentials). */
  check(request: StandinRequest): StandinAnswer;
  /** Recipient (E.164) and code of an accepted request. */
  delivery(request: StandinRequest): { to: string; code: string };
}

/** Answers the real gateways give, for tests to choose from. */
export const ANSWERS = {
  kavenegar: {
    invalidReceptor: { status: 411, json: { return: { status: 411, message: "receptor invalid" }, entries: null } },
    invalidReceptorIn200: { status: 200, json: { return: { status: 411, message: "receptor invalid" }, entries: null } },
    noCredit: { status: 418, json: { return: { status: 418, message: "credit insufficient" }, entries: null } },
    serverError: { status: 502, json: undefined },
  },
  smsir: {
    errorStatus: { status: 400, json: { status: 10, message: "template not found", data: null } },
    errorStatusIn200: { status: 200, json: { status: 0, message: "failed", data: null } },
    serverError: { status: 503, json: undefined },
  },
  twilio: {
    invalidTo: { status: 400, json: { code: 21211, message: "The 'To' number is not a valid phone number.", status: 400 } },
    notMobile: { status: 400, json: { code: 21614, message: "'To' number is not a valid mobile number", status: 400 } },
    otherBadRequest: { status: 400, json: { code: 21606, message: "The From phone number is not a valid, SMS-capable number", status: 400 } },
    serverError: { status: 500, json: { code: 20500, message: "Internal Server Error", status: 500 } },
  },
} as const;

function secret(prefix: string): string {
  return `${prefix}${randomBytes(12).toString("hex")}`;
}

function form(body: string): URLSearchParams {
  return new URLSearchParams(body);
}

/** The code inside a free text: its first run of 4 to 10 ASCII digits (the minutes
 * it lives are fewer digits, or Persian ones; a WebOTP line repeats the code). */
function codeIn(text: string): string {
  return /(?<!\d)(\d{4,10})(?!\d)/u.exec(text)?.[1] ?? "";
}

function fromIranianNational(national: string): string {
  if (national.startsWith("00")) return `+${national.slice(2)}`;
  return national.startsWith("0") ? `+98${national.slice(1)}` : national;
}

function kavenegarApi(key: string, template: string | undefined): Api {
  const ok = { status: 200, json: { return: { status: 200, message: "تایید شد" }, entries: [{ messageid: 8792343, status: 1 }] } };
  const refused = { status: 403, json: { return: { status: 403, message: "API-Key invalid" }, entries: null } };
  return {
    check(request) {
      const url = new URL(request.url, "http://standin");
      const lookup = `/v1/${key}/verify/lookup.json`;
      const send = `/v1/${key}/sms/send.json`;
      if (template !== undefined && request.method === "GET" && url.pathname === lookup) return url.searchParams.get("template") === template ? ok : refused;
      if (template === undefined && request.method === "POST" && url.pathname === send) return ok;
      return refused;
    },
    delivery(request) {
      const url = new URL(request.url, "http://standin");
      if (request.method === "GET") return { to: fromIranianNational(url.searchParams.get("receptor") ?? ""), code: url.searchParams.get("token") ?? "" };
      const fields = form(request.body);
      return { to: fromIranianNational(fields.get("receptor") ?? ""), code: codeIn(fields.get("message") ?? "") };
    },
  };
}

function smsirApi(key: string): Api {
  return {
    check(request) {
      if (request.method !== "POST" || request.url !== "/v1/send/verify") return { status: 404, json: undefined };
      if (request.headers["x-api-key"] !== key) return { status: 401, json: { status: 0, message: "unauthorized", data: null } };
      return { status: 200, json: { status: 1, message: "موفق", data: { messageId: 89545112, cost: 1.0 } } };
    },
    delivery(request) {
      const body = JSON.parse(request.body) as { mobile: string; parameters: { name: string; value: string }[] };
      return { to: `+98${body.mobile}`, code: body.parameters[0]?.value ?? "" };
    },
  };
}

function twilioApi(sid: string, token: string): Api {
  return {
    check(request) {
      if (request.method !== "POST" || request.url !== `/2010-04-01/Accounts/${sid}/Messages.json`) return { status: 404, json: { code: 20404, status: 404 } };
      if (request.headers.authorization !== `Basic ${Buffer.from(`${sid}:${token}`).toString("base64")}`) return { status: 401, json: { code: 20003, message: "Authenticate", status: 401 } };
      return { status: 201, json: { sid: "SM0123456789abcdef0123456789abcdef", status: "queued" } };
    },
    delivery(request) {
      const fields = form(request.body);
      return { to: fields.get("To") ?? "", code: codeIn(fields.get("Body") ?? "") };
    },
  };
}

async function startStandin(name: GatewayName, api: Api, env: (baseUrl: string) => Record<string, string>, secrets: string[]): Promise<Standin> {
  const requests: StandinRequest[] = [];
  const delivered: { to: string; code: string }[] = [];
  let override: StandinAnswer | undefined;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const request: StandinRequest = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString("utf8"), clientPort: req.socket.remotePort };
      requests.push(request);
      const answer = override ?? api.check(request);
      if (answer === "hang") return;
      if (override === undefined && answer.status < 300) delivered.push(api.delivery(request));
      res.writeHead(answer.status, { "content-type": "application/json" }).end(answer.json === undefined ? "<html>gateway error</html>" : JSON.stringify(answer.json));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    name,
    baseUrl,
    env: env(baseUrl),
    secrets,
    requests,
    answer(next) {
      override = next === "ok" ? undefined : next;
    },
    codeFor(e164) {
      const found = delivered.findLast((d) => d.to === e164);
      if (found === undefined) throw new Error(`${name} delivered nothing to ${e164}`);
      return found.code;
    },
    codeAskedFor(e164) {
      const found = requests.map((request) => api.delivery(request)).findLast((d) => d.to === e164);
      if (found === undefined) throw new Error(`${name} was asked nothing for ${e164}`);
      return found.code;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Kavenegar, with a verify/lookup template (the default) or a sender line for sms/send. */
export function startKavenegar(mode: { template: string } | { sender: string } = { template: "identity-otp" }): Promise<Standin> {
  const key = secret("kavkey");
  const template = "template" in mode ? mode.template : undefined;
  const settings: Record<string, string> = "template" in mode ? { KAVENEGAR_TEMPLATE: mode.template } : { KAVENEGAR_SENDER: mode.sender };
  return startStandin("kavenegar", kavenegarApi(key, template), (base) => ({ KAVENEGAR_API_KEY: key, KAVENEGAR_BASE_URL: base, ...settings }), [key]);
}

export function startSmsir(): Promise<Standin> {
  const key = secret("smsirkey");
  return startStandin("smsir", smsirApi(key), (base) => ({ SMSIR_API_KEY: key, SMSIR_TEMPLATE_ID: "100000", SMSIR_BASE_URL: base }), [key]);
}

/** Twilio, sending from a number (the default) or through a messaging service. */
export function startTwilio(mode: { from: string } | { messagingServiceSid: string } = { from: "+15005550006" }): Promise<Standin> {
  const sid = `AC${randomBytes(16).toString("hex")}`;
  const token = secret("twtoken");
  const settings: Record<string, string> = "from" in mode ? { TWILIO_FROM: mode.from } : { TWILIO_MESSAGING_SERVICE_SID: mode.messagingServiceSid };
  const basic = Buffer.from(`${sid}:${token}`).toString("base64");
  return startStandin("twilio", twilioApi(sid, token), (base) => ({ TWILIO_ACCOUNT_SID: sid, TWILIO_AUTH_TOKEN: token, TWILIO_BASE_URL: base, ...settings }), [token, basic]);
}

/** The environment naming `standins` as SMS_PROVIDER's failover list, in order. */
export function providersEnv(...standins: Standin[]): Record<string, string> {
  return Object.assign({ SMS_PROVIDER: standins.map((s) => s.name).join(",") }, ...standins.map((s) => s.env)) as Record<string, string>;
}
