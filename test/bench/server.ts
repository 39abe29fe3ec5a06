/**
 * Starts the service as its own process, as `npm start` runs it (`node
 * scripts/start.mjs`, or `npm start` itself), pinned to one core with taskset, on
 * free ports, and waits until gRPC health says SERVING.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import net from "node:net";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";

/** One collection from `--trace-gc`: its kind and the pause it made. */
export interface GcEvent {
  kind: "scavenge" | "mark-compact" | "other";
  pauseMs: number;
  /** The heap's use before and after it, in MB. */
  beforeMb: number;
  afterMb: number;
  /** The line as V8 wrote it (it ends with the collection's reason). */
  line: string;
}

/** What the collector did over a stretch: counts by kind and the longest pause. */
export interface GcSummary {
  scavenges: number;
  markCompacts: number;
  others: number;
  longestMs: number;
  totalMs: number;
  /** MB allocated over the stretch: what the heap grew by between collections. */
  allocatedMb: number;
}

export interface ServerProcess {
  child: ChildProcess;
  grpcPort: number;
  httpPort: number;
  /** Milliseconds from spawn until health answered SERVING. */
  readyMs: number;
  /** Resident set size in KiB, from /proc. */
  rssKiB(): Promise<number>;
  /** With `traceGc`: a mark to pass to gcSince (collections logged so far). */
  gcMark(): number;
  /** With `traceGc`: the collections logged since `mark` (stdout is read as it comes). */
  gcSince(mark: number): GcSummary;
  /** With `traceGc`: the collections themselves since `mark`. */
  gcEventsSince(mark: number): readonly GcEvent[];
  stop(): Promise<void>;
}

/** V8's `--trace-gc` line: `[pid:isolate]  1510 ms: Scavenge 5.3 (6.0) -> 4.6 (7.0) MB, 0.76 / 0.00 ms …`;
 * the first figure after "MB," is the pause on the main thread. */
const GC_LINE = /ms: ([A-Za-z -]+?) ([\d.]+) \([\d.]+\) -> ([\d.]+) \([\d.]+\) MB, ([\d.]+) \//;

export function parseGcLine(line: string): GcEvent | undefined {
  const match = GC_LINE.exec(line);
  if (match === null) return undefined;
  const name = match[1]!;
  const kind = name === "Scavenge" ? "scavenge" : name.startsWith("Mark-Compact") ? "mark-compact" : "other";
  return { kind, pauseMs: Number(match[4]), beforeMb: Number(match[2]), afterMb: Number(match[3]), line };
}

/** `previous`: the collection before the stretch, where its first allocation starts. */
export function summarizeGc(events: readonly GcEvent[], previous?: GcEvent): GcSummary {
  const summary: GcSummary = { scavenges: 0, markCompacts: 0, others: 0, longestMs: 0, totalMs: 0, allocatedMb: 0 };
  let last = previous;
  for (const e of events) {
    if (last !== undefined) summary.allocatedMb += Math.max(0, e.beforeMb - last.afterMb);
    last = e;
    if (e.kind === "scavenge") summary.scavenges += 1;
    else if (e.kind === "mark-compact") summary.markCompacts += 1;
    else summary.others += 1;
    summary.longestMs = Math.max(summary.longestMs, e.pauseMs);
    summary.totalMs += e.pauseMs;
  }
  return summary;
}

/**
 * The node flags `npm start` runs with (package.json's start script, `node FLAGS
 * scripts/start.mjs`), so that a server started with node directly runs as shipped.
 */
export async function startFlags(): Promise<string[]> {
  const pkg = JSON.parse(await readFile("package.json", "utf8")) as { scripts?: { start?: string } };
  const words = (pkg.scripts?.start ?? "").split(/\s+/).filter(Boolean);
  if (words[0] !== "node") return [];
  return words.slice(1, words.indexOf("scripts/start.mjs") === -1 ? 1 : words.indexOf("scripts/start.mjs"));
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** `npm` spawns `npm start` (its own start-up included; the pid is npm's, so no RSS).
 * With TLS_CERT_FILE in `env`, `trustedCa` is what the readiness check trusts. */
export async function startServer(
  env: Record<string, string>,
  cpu: number | undefined,
  nodeArgs: readonly string[] = [],
  launcher: "node" | "npm" = "node",
  trustedCa?: Buffer,
  traceGc = false,
): Promise<ServerProcess> {
  const [grpcPort, httpPort] = [await freePort(), await freePort()];
  const flags = [...(await startFlags()), ...nodeArgs, ...(traceGc ? ["--trace-gc"] : [])];
  const command = launcher === "npm" ? ["npm", "start", "--silent"] : [process.execPath, ...flags, "scripts/start.mjs"];
  const [file, ...args] = cpu === undefined ? command : ["taskset", "-c", String(cpu), ...command];
  const started = performance.now();
  const child = spawn(file!, args, {
    env: { ...process.env, GRPC_PORT: String(grpcPort), HTTP_PORT: String(httpPort), METRICS_PORT: "0", LOG_LEVEL: "warn", ...env },
    // stdout carries --trace-gc's lines beside the log (pino; nearly silent at warn),
    // read only when tracing.
    stdio: ["ignore", traceGc ? "pipe" : "ignore", "pipe"],
    // npm does not pass SIGTERM on to the script: stop() signals the whole group.
    detached: launcher === "npm",
  });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const gcEvents: GcEvent[] = [];
  if (traceGc) {
    let partial = "";
    child.stdout!.on("data", (d: Buffer) => {
      const lines = (partial + d.toString()).split("\n");
      partial = lines.pop()!;
      for (const line of lines) {
        const event = parseGcLine(line);
        if (event !== undefined) gcEvents.push(event);
      }
    });
  }
  const health = createClient(Health, createGrpcTransport(trustedCa === undefined ? { baseUrl: `http://127.0.0.1:${grpcPort}` } : { baseUrl: `https://127.0.0.1:${grpcPort}`, nodeOptions: { ca: trustedCa } }));
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited (${child.exitCode}): ${stderr}`);
    if (performance.now() - started > 60_000) {
      // Not left behind serving nothing: the caller gets no handle to stop it.
      child.kill("SIGKILL");
      throw new Error(`server not ready in 60 s: ${stderr}`);
    }
    try {
      const { status } = await health.check({}, { timeoutMs: 200 });
      if (status === HealthCheckResponse_ServingStatus.SERVING) break;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const readyMs = performance.now() - started;
  return {
    child,
    grpcPort,
    httpPort,
    readyMs,
    async rssKiB() {
      // taskset execs node, so the child's pid is node's.
      const status = await readFile(`/proc/${child.pid}/status`, "utf8");
      return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    },
    gcMark: () => gcEvents.length,
    gcSince: (mark) => summarizeGc(gcEvents.slice(mark), gcEvents[mark - 1]),
    gcEventsSince: (mark) => gcEvents.slice(mark),
    stop: async () => {
      if (launcher === "npm") {
        // npm exits at once; the service drains after it. Done when the group is empty.
        process.kill(-child.pid!, "SIGTERM");
        for (;;) {
          try {
            process.kill(-child.pid!, 0);
          } catch {
            return;
          }
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
      await new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      });
    },
  };
}
