/**
 * `src/main.ts` run as its own process with a SERVICE_ROLE, the way it is
 * deployed. Ports are 0 and read back from the JSON start-up log line.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { REDIS_URL, freshDatabase, freshKeyPrefix } from "./services.js";
import { startSmsInbox, type SmsInbox } from "./sms-inbox.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface ServiceProcess {
  /** The start-up line: `grpcPort`, `httpPort`, `http`, … */
  listening: Record<string, unknown>;
  /** Every log line so far (JSON, parsed). */
  log: Record<string, unknown>[];
  /** The child's process id (for /proc/PID/status). */
  pid: number;
  /** Everything written to stdout and stderr so far, parsed or not. */
  output(): string;
  /** How the process ended: its exit code, or the signal that killed it. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
  /** SIGKILL: the process ends at once, closing nothing itself. */
  kill(): Promise<void>;
}

/** How the process runs the service: from source (tsx), or as `npm start` does (the
 * esbuild bundle that scripts/start.mjs builds when stale). */
export type Launcher = "source" | "bundle";

/** The service as a child process, given only `env` and what a process needs to run.
 * /metrics on a free port unless `env` says otherwise: parallel suites never meet on 9464. */
function spawnService(env: Record<string, string>, launcher: Launcher = "source"): ChildProcess {
  const args = launcher === "source" ? ["--import", "tsx", "src/main.ts"] : ["scripts/start.mjs"];
  return spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", TMPDIR: process.env.TMPDIR ?? "/tmp", LOG_LEVEL: "info", METRICS_PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** Runs `src/main.ts` with `env` until it exits by itself (start-up refusals); killed after `timeoutMs`. */
export async function runServiceProcessToExit(env: Record<string, string>, timeoutMs = 50_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnService(env);
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const code = await exited;
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/**
 * Starts `tsx src/main.ts` (as `node --import tsx`, one process, so a signal reaches
 * the service itself) with only `env` and what a process needs to run.
 */
export async function startServiceProcess(env: Record<string, string>, timeoutMs = 30_000, launcher: Launcher = "source"): Promise<ServiceProcess> {
  const child = spawnService(env, launcher);
  const log: Record<string, unknown>[] = [];
  let stderr = "";
  let output = "";
  child.stderr!.on("data", (chunk: Buffer) => ((stderr += chunk.toString()), (output += chunk.toString())));
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));

  const listening = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${env.SERVICE_ROLE} did not start in ${timeoutMs} ms\n${stderr}`)), timeoutMs);
    createInterface({ input: child.stdout! }).on("line", (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      log.push(entry);
      if (typeof entry.msg === "string" && entry.msg.startsWith("identity listening")) {
        clearTimeout(timer);
        resolve(entry);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${env.SERVICE_ROLE} exited with ${code}\n${stderr}`));
    });
  }).catch(async (error: unknown) => {
    child.kill("SIGKILL");
    await exited;
    throw error;
  });

  return {
    listening,
    log,
    pid: child.pid!,
    output: () => output,
    exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(killer);
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGKILL");
      await exited;
    },
  };
}

/** A `SERVICE_ROLE=grpc` process's environment on `databaseUrl`, a fresh key prefix of
 * the shared Redis, `dataDir`, sending its codes to `inbox` (instances given the same
 * database, prefix and key act as one service). */
export function grpcProcessEnv(databaseUrl: string, inbox: SmsInbox, dataDir: string): Record<string, string> {
  return {
    SERVICE_ROLE: "grpc",
    HOST: "127.0.0.1",
    DATABASE_URL: databaseUrl,
    REDIS_URL,
    REDIS_KEY_PREFIX: freshKeyPrefix(),
    DATA_DIR: dataDir,
    SMS_PROVIDER: "webhook",
    SMS_WEBHOOK_URL: inbox.url,
  };
}

/** The split deployment: a gRPC process and a bridge process calling it. */
export interface SplitDeployment {
  grpc: ServiceProcess;
  bridge: ServiceProcess;
  /** Where the gRPC process sends its codes. */
  inbox: SmsInbox;
  /** The bridge, `http://127.0.0.1:port` (https:// when `bridgeEnv` sets TLS_CERT_FILE). */
  url: string;
  close(): Promise<void>;
}

/**
 * A `SERVICE_ROLE=grpc` process on a fresh database and key prefix, sending codes to
 * an inbox, and a `SERVICE_ROLE=bridge` process calling it at GRPC_UPSTREAM. Both
 * trust 127.0.0.1 as a proxy: the gRPC process believes the bridge's forwarded
 * client, and the bridge believes the test playing a front proxy. The bridge calls
 * https:// when `grpcEnv` sets TLS_CERT_FILE. `grpcEnv` and
 * `bridgeEnv` add to (or override) each process's environment.
 */
export async function startSplitDeployment(grpcEnv: Record<string, string> = {}, bridgeEnv: Record<string, string> = {}): Promise<SplitDeployment> {
  const [database, inbox, dataDir] = await Promise.all([freshDatabase(), startSmsInbox(), mkdtemp(join(tmpdir(), "bridge-split-"))]);
  const started: ServiceProcess[] = [];
  const close = async () => {
    for (const process of started.reverse()) await process.stop();
    await Promise.all([database.drop(), inbox.close(), rm(dataDir, { recursive: true, force: true })]);
  };
  try {
    const grpc = await startServiceProcess({ ...grpcProcessEnv(database.url, inbox, dataDir), GRPC_PORT: "0", TRUSTED_PROXIES: "127.0.0.1", ...grpcEnv });
    started.push(grpc);
    const bridge = await startServiceProcess({
      SERVICE_ROLE: "bridge",
      HOST: "127.0.0.1",
      HTTP_PORT: "0",
      GRPC_UPSTREAM: `${grpcEnv.TLS_CERT_FILE === undefined ? "http" : "https"}://127.0.0.1:${String(grpc.listening.grpcPort)}`,
      TRUSTED_PROXIES: "127.0.0.1",
      ...bridgeEnv,
    });
    started.push(bridge);
    return { grpc, bridge, inbox, url: String(bridge.listening.http), close };
  } catch (error) {
    await close();
    throw error;
  }
}
