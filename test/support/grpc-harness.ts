/**
 * Starts the identity service as `npm start` would (config from an environment,
 * real stores, the real gRPC server) and gives tests a real gRPC client for it.
 */
import { cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { pino } from "pino";
import { startGrpcApp, type GrpcApp, type GrpcAppOptions } from "../../src/app.js";
import { loadConfig, type Config } from "../../src/config.js";
import type { Clock } from "../../src/core/clock.js";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { AuthService, OtpPurpose } from "../../gen/identity/v1/auth_pb.js";
import { TokenService } from "../../gen/identity/v1/token_pb.js";
import { freshDatabase, freshKeyPrefix, REDIS_URL } from "./services.js";
import { freshPhone } from "./phones.js";
import { startSmsInbox, type SmsInbox } from "./sms-inbox.js";
import { inject } from "vitest";
import { CLIENT_IDLE_TIMEOUT_MS } from "../../src/lib/http-limits.js";

export type StoreMode = "real" | "embedded";

export interface Stores {
  mode: StoreMode;
  /** Environment naming the stores (DATABASE_URL/REDIS_URL or DATA_DIR). */
  env: Record<string, string>;
  drop(): Promise<void>;
}

/** A fresh database and key prefix (real), or a fresh DATA_DIR (embedded). */
export async function freshStores(mode: StoreMode): Promise<Stores> {
  if (mode === "real") {
    const db = await freshDatabase();
    return { mode, env: { DATABASE_URL: db.url, REDIS_URL, REDIS_KEY_PREFIX: freshKeyPrefix() }, drop: db.drop };
  }
  const dataDir = await mkdtemp(join(tmpdir(), "identity-test-"));
  // initdb takes seconds; the global setup made one migrated template to copy.
  await cp(inject("pgliteTemplate"), join(dataDir, "pgdata"), { recursive: true });
  return { mode, env: { DATA_DIR: dataDir }, drop: () => rm(dataDir, { recursive: true, force: true }) };
}

export interface Service {
  app: GrpcApp;
  config: Config;
  port: number;
  auth: Client<typeof AuthService>;
  token: Client<typeof TokenService>;
  sms: SmsInbox;
  /** Stops the server (stores stay for a restart). */
  stop(): Promise<void>;
}

export interface StartOptions extends Pick<GrpcAppOptions, "extraClaims" | "random" | "limits" | "metrics" | "logger"> {
  env?: Record<string, string>;
  /** When `env` sets TLS_CERT_FILE: what the harness's clients trust and present. */
  clientTls?: { ca: Buffer; cert?: Buffer; key?: Buffer };
  clock?: Clock;
  sms?: SmsInbox;
}

export async function startService(stores: Stores, options: StartOptions = {}): Promise<Service> {
  const sms = options.sms ?? (await startSmsInbox());
  const config = loadConfig({
    GRPC_PORT: "0",
    HTTP_PORT: "0",
    LOG_LEVEL: "silent",
    SMS_PROVIDER: "webhook",
    SMS_WEBHOOK_URL: sms.url,
    // Every test client is 127.0.0.1 and reuses phones: limits get their own tests.
    OTP_RESEND_INTERVAL: "0s",
    OTP_MAX_PER_IP_PER_HOUR: "100000",
    OTP_MAX_PER_PHONE_PER_HOUR: "1000",
    ...stores.env,
    ...options.env,
  });
  const app = await startGrpcApp(config, {
    logger: options.logger ?? pino({ level: config.logLevel }),
    clock: options.clock,
    random: options.random,
    extraClaims: options.extraClaims,
    limits: options.limits,
    metrics: options.metrics,
  });
  // Idle connections are closed by the client before the server's idle GOAWAY, as the
  // package's clients do: a call sent into a GOAWAY is refused (REFUSED_STREAM).
  const transport = createGrpcTransport(
    config.tls === undefined
      ? { baseUrl: `http://127.0.0.1:${app.grpc.port}`, idleConnectionTimeoutMs: CLIENT_IDLE_TIMEOUT_MS }
      : { baseUrl: `https://127.0.0.1:${app.grpc.port}`, nodeOptions: options.clientTls, idleConnectionTimeoutMs: CLIENT_IDLE_TIMEOUT_MS },
  );
  return {
    app,
    config,
    port: app.grpc.port,
    auth: createClient(AuthService, transport),
    token: createClient(TokenService, transport),
    sms,
    async stop() {
      await app.shutdown(2000);
      if (options.sms === undefined) await sms.close();
    },
  };
}

/** Two instances on one fresh PostgreSQL database and Redis prefix, sharing an SMS
 * inbox and one DATA_DIR (so one generated development key, as a deployment shares
 * JWT_SIGNING_KEY). */
export interface TwoInstances {
  a: Service;
  b: Service;
  inbox: SmsInbox;
  close(): Promise<void>;
}

export async function twoInstances(env: Record<string, string> = {}, clocks: { a?: Clock; b?: Clock } = {}): Promise<TwoInstances> {
  const stores = await freshStores("real");
  const keysDir = await mkdtemp(join(tmpdir(), "identity-keys-"));
  const inbox = await startSmsInbox();
  const shared = { DATA_DIR: keysDir, ...env };
  const [a, b] = await Promise.all([
    startService(stores, { env: shared, sms: inbox, clock: clocks.a }),
    startService(stores, { env: shared, sms: inbox, clock: clocks.b }),
  ]);
  return {
    a,
    b,
    inbox,
    async close() {
      await a.stop();
      await b.stop();
      await inbox.close();
      await stores.drop();
      await rm(keysDir, { recursive: true, force: true });
    },
  };
}

/** The `google.rpc.ErrorInfo` reason of a failed call, with its status code. */
export async function failure(call: Promise<unknown>): Promise<{ code: Code; reason: string; metadata: Record<string, string>; message: string }> {
  try {
    await call;
  } catch (error) {
    const e = ConnectError.from(error);
    const info = e.findDetails(ErrorInfoSchema)[0];
    return { code: e.code, reason: info?.reason ?? "", metadata: info?.metadata ?? {}, message: e.rawMessage };
  }
  throw new Error("expected the call to fail, it succeeded");
}

export function bearer(access: string): { headers: Record<string, string> } {
  return { headers: { authorization: `Bearer ${access}` } };
}

/** Sends a code and registers with it; returns tokens and user. */
export async function registerUser(service: Pick<Service, "auth" | "sms">, phone = freshPhone().e164, names = { firstName: "Sara", lastName: "Ahmadi" }) {
  await service.auth.sendOtp({ phone, purpose: OtpPurpose.REGISTER });
  const code = service.sms.codeFor(phone, "register");
  const response = await service.auth.register({ phone, code, ...names });
  return { phone, user: response.user!, tokens: response.tokens! };
}

export async function loginUser(service: Pick<Service, "auth" | "sms">, phone: string) {
  await service.auth.sendOtp({ phone, purpose: OtpPurpose.LOGIN });
  const response = await service.auth.login({ phone, code: service.sms.codeFor(phone, "login") });
  return { user: response.user!, tokens: response.tokens! };
}

export { OtpPurpose, create };
