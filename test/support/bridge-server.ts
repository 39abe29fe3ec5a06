/**
 * A bridge over a real identity (PostgreSQL + Redis, fresh database and key
 * prefix, SMS through the webhook inbox), on 127.0.0.1 and a free port, with
 * small HTTP helpers that speak the `/api` contract.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { createIdentity, type BuildOptions, type Identity } from "../../src/app.js";
import { loadConfig, type Config } from "../../src/config.js";
import { inProcess, startBridge, type BridgeOptions, type RunningBridge } from "../../bridge/index.js";
import { freshPhone } from "./phones.js";
import { startSmsInbox, type SmsInbox } from "./sms-inbox.js";
import { REDIS_URL, freshDatabase, freshKeyPrefix } from "./services.js";

export interface Answer {
  status: number;
  headers: Headers;
  /** The parsed JSON body (undefined when there is none); `any` because tests read every shape there is. */
  body: any;
}

export interface Session {
  user: { id: string; phone: string; first_name: string; last_name: string };
  tokens: { access: string; refresh: string; access_expires_at: string; refresh_expires_at: string };
}

export interface BridgeHarness {
  url: string;
  config: Config;
  identity: Identity;
  bridge: RunningBridge;
  inbox: SmsInbox;
  request(method: string, path: string, options?: { json?: unknown; body?: string | Uint8Array; headers?: Record<string, string> }): Promise<Answer>;
  /** Sends a code (send-otp) and returns it as the SMS gateway received it. */
  codeFor(phone: string, purpose: "register" | "login"): Promise<string>;
  signUp(phone?: string, names?: { first_name?: string; last_name?: string }): Promise<Session>;
  logIn(phone: string): Promise<Session>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** Environment on top of the test defaults (strings, as the process would have them). */
  env?: Record<string, string>;
  build?: BuildOptions;
  /** Changes the identity before the bridge gets it (e.g. wrap a handler to count calls). */
  adapt?: (identity: Identity) => Identity;
  /** The bridge's header budget, HTTP/2 streams and time-outs (short ones for tests of them). */
  limits?: BridgeOptions["limits"];
}

export async function startBridgeHarness(options: HarnessOptions = {}): Promise<BridgeHarness> {
  const [database, inbox, dataDir] = await Promise.all([freshDatabase(), startSmsInbox(), mkdtemp(join(tmpdir(), "bridge-test-"))]);
  const config = loadConfig({
    DATABASE_URL: database.url,
    REDIS_URL,
    REDIS_KEY_PREFIX: freshKeyPrefix(),
    DATA_DIR: dataDir,
    SMS_PROVIDER: "webhook",
    SMS_WEBHOOK_URL: inbox.url,
    HOST: "127.0.0.1",
    HTTP_PORT: "0",
    GRPC_PORT: "0",
    LOG_LEVEL: "silent",
    // Every test request comes from 127.0.0.1: one per-IP bucket for the whole file.
    OTP_MAX_PER_IP_PER_HOUR: "10000",
    ...options.env,
  });
  const log = pino({ level: config.logLevel });
  const built = await createIdentity(config, { logger: log, ...options.build });
  const identity = options.adapt ? options.adapt(built) : built;
  const bridge = await startBridge({ config, log, upstream: inProcess(identity), limits: options.limits });

  const request = requester(bridge.url);

  const codeFor: BridgeHarness["codeFor"] = async (phone, purpose) => {
    const sent = await request("POST", "/api/send-otp/", { json: { phone, purpose } });
    if (sent.status !== 200) throw new Error(`send-otp answered ${sent.status} ${JSON.stringify(sent.body)}`);
    return inbox.codeFor(normalize(phone), purpose);
  };

  const harness: BridgeHarness = {
    url: bridge.url,
    config,
    identity,
    bridge,
    inbox,
    request,
    codeFor,
    async signUp(phone = freshPhone().local, names = {}) {
      const code = await codeFor(phone, "register");
      const answer = await request("POST", "/api/register/", { json: { phone, code, first_name: names.first_name ?? "Sara", last_name: names.last_name ?? "Ahmadi" } });
      if (answer.status !== 201) throw new Error(`register answered ${answer.status} ${JSON.stringify(answer.body)}`);
      return answer.body.data as Session;
    },
    async logIn(phone) {
      const code = await codeFor(phone, "login");
      const answer = await request("POST", "/api/login/", { json: { phone, code } });
      if (answer.status !== 200) throw new Error(`login answered ${answer.status} ${JSON.stringify(answer.body)}`);
      return answer.body.data as Session;
    },
    async close() {
      await bridge.close(1000);
      await built.close();
      await Promise.all([inbox.close(), database.drop(), rm(dataDir, { recursive: true, force: true })]);
    },
  };
  return harness;
}

/** HTTP requests to a bridge at `baseUrl` (one started here, or a bridge process), answers parsed. */
export function requester(baseUrl: string): BridgeHarness["request"] {
  return async (method, path, opts = {}) => {
    const headers: Record<string, string> = { ...opts.headers };
    let body: string | Uint8Array | undefined = opts.body;
    if (opts.json !== undefined) {
      body = JSON.stringify(opts.json);
      headers["content-type"] ??= "application/json";
    }
    const response = await fetch(baseUrl + path, { method, headers, body: body as BodyInit | undefined });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text === "" ? undefined : JSON.parse(text) };
  };
}

function normalize(phone: string): string {
  return phone.startsWith("0") ? `+98${phone.slice(1)}` : phone;
}
