/**
 * WORKERS=N: N processes share the ports, behave as one service, are restarted when
 * one dies, and all drain on SIGTERM.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService, OtpPurpose } from "../gen/identity/v1/auth_pb.js";
import { TokenService } from "../gen/identity/v1/token_pb.js";
import { loadConfig, ConfigError } from "../src/config.js";
import { scrape } from "./support/prometheus-text.js";
import { freshDatabase, freshKeyPrefix, realStoresAvailable, REDIS_URL } from "./support/services.js";
import { startSmsInbox, type SmsInbox } from "./support/sms-inbox.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

interface Listening {
  pid: number;
  grpcPort: number;
  httpPort: number;
  metricsPort?: number;
}

describe("WORKERS", () => {
  it("refuses several workers on the embedded stores, naming the variable", () => {
    expect(() => loadConfig({ WORKERS: "2" })).toThrow(ConfigError);
    expect(() => loadConfig({ WORKERS: "2" })).toThrow(/^WORKERS:/);
    expect(loadConfig({ WORKERS: "auto", DATABASE_URL: "postgres://x@h/db", REDIS_URL }).workers).toBeGreaterThanOrEqual(1);
  });
});

describe.runIf(realStoresAvailable())("WORKERS=2 on PostgreSQL and Redis", () => {
  let child: ChildProcess;
  let sms: SmsInbox;
  let drop: () => Promise<void>;
  const listening: Listening[] = [];
  /** The primary's start-up line (it serves the summed /metrics). */
  let supervising: { pid?: number; metricsPort?: number } = {};
  let exited: Promise<[number | null, NodeJS.Signals | null]>;

  async function waitForListening(count: number, timeoutMs = 45_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (listening.length < count) {
      if (Date.now() > deadline) throw new Error(`only ${listening.length} of ${count} workers listened`);
      await sleep(50);
    }
  }

  beforeAll(async () => {
    const database = await freshDatabase();
    drop = database.drop;
    sms = await startSmsInbox();
    child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "",
        WORKERS: "2",
        GRPC_PORT: "0",
        HTTP_PORT: "0",
        METRICS_PORT: "0",
        DATABASE_URL: database.url,
        REDIS_URL,
        REDIS_KEY_PREFIX: freshKeyPrefix(),
        SMS_PROVIDER: "webhook",
        SMS_WEBHOOK_URL: sms.url,
        JWT_ALGORITHM: "HS256",
        JWT_SIGNING_KEY: "workers-test-secret-of-at-least-32-bytes",
      },
      stdio: ["ignore", "pipe", "inherit"],
    });
    exited = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
    createInterface({ input: child.stdout! }).on("line", (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string } & Listening;
        if (entry.msg?.startsWith("identity: supervising")) supervising = entry;
        if (entry.msg?.startsWith("identity listening")) listening.push({ pid: entry.pid, grpcPort: entry.grpcPort, httpPort: entry.httpPort, metricsPort: entry.metricsPort });
      } catch {
        // not JSON
      }
    });
    await waitForListening(2);
  }, 60_000);

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exited;
    }
    await sms?.close();
    await drop?.();
  });

  it("runs two processes on the same ports", () => {
    expect(listening).toHaveLength(2);
    expect(listening[0]!.pid).not.toBe(listening[1]!.pid);
    expect(listening[1]!.grpcPort).toBe(listening[0]!.grpcPort);
    expect(listening[1]!.httpPort).toBe(listening[0]!.httpPort);
  });

  it("serves the whole flow across the workers as one service", async () => {
    const baseUrl = `http://127.0.0.1:${listening[0]!.grpcPort}`;
    const phone = "+989121110001";
    // Separate connections are spread over the workers by the cluster primary.
    const clients = Array.from({ length: 4 }, () => createGrpcTransport({ baseUrl }));
    const auth = createClient(AuthService, clients[0]!);
    await auth.sendOtp({ phone, purpose: OtpPurpose.REGISTER });
    const { tokens } = await auth.register({ phone, code: sms.codeFor(phone, "register"), firstName: "", lastName: "" });
    for (const transport of clients) {
      expect((await createClient(TokenService, transport).verify({ token: tokens!.access })).valid).toBe(true);
    }
    await createClient(AuthService, clients[1]!).logout({ refresh: tokens!.refresh });
    for (const transport of clients) {
      expect(await createClient(TokenService, transport).verify({ token: tokens!.access })).toMatchObject({ valid: false, reason: "session_revoked" });
    }
    const health = await fetch(`http://127.0.0.1:${listening[0]!.httpPort}/healthz`);
    expect(health.status).toBe(200);
  });

  it("serves one /metrics, the primary's, with every worker's calls summed", async () => {
    expect(supervising.metricsPort).toEqual(expect.any(Number));
    expect(listening.map((worker) => worker.metricsPort)).toEqual([undefined, undefined]);
    const calls = 8;
    const before = await scrape(supervising.metricsPort);
    // One connection a call: the primary deals connections to the workers in turn, so
    // a count from one worker alone would be about half.
    for (let i = 0; i < calls; i++) {
      const token = createClient(TokenService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${listening[0]!.grpcPort}` }));
      expect((await token.verify({ token: "not-a-token" })).valid).toBe(false);
    }
    const after = await scrape(supervising.metricsPort);
    const verified = { service: "identity.v1.TokenService", method: "Verify", code: "OK" };
    expect(after.value("identity_grpc_requests_total", verified) - before.value("identity_grpc_requests_total", verified)).toBe(calls);
    const timed = "identity_grpc_request_duration_seconds_count";
    expect(after.value(timed, { method: "Verify" }) - before.value(timed, { method: "Verify" })).toBe(calls);
    // Summed, not listed per worker: one sample per label set.
    expect(after.labelsOf("identity_grpc_requests_total").filter((labels) => labels.method === "Verify" && labels.code === "OK")).toHaveLength(1);
  }, 30_000);

  it("starts another worker when one dies", async () => {
    const victim = listening[0]!.pid;
    process.kill(victim, "SIGKILL");
    await waitForListening(3);
    expect(listening[2]!.pid).not.toBe(victim);
    expect(listening[2]!.grpcPort).toBe(listening[0]!.grpcPort);
  }, 60_000);

  it("drains every worker and exits 0 on SIGTERM", async () => {
    child.kill("SIGTERM");
    const [code] = await exited;
    expect(code).toBe(0);
    for (const { pid } of listening.slice(1)) expect(() => process.kill(pid, 0)).toThrow();
  }, 30_000);
});
