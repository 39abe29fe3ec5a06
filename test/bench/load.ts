/**
 * Load generators, run on their own core: h2load for gRPC (it speaks HTTP/2 and
 * sends a prepared length-prefixed gRPC frame), wrk for HTTP/1.1.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface LoadResult {
  requests: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Requests that failed at the HTTP level (status not 200); with a duration,
   * h2load also counts the streams still in flight when time is up. */
  errors: number;
  unfinished?: true;
}

/** A gRPC request frame: 1 byte flags (0: not compressed), 4 bytes length, message. */
export function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export interface H2loadOptions {
  url: string;
  body: Buffer;
  headers?: Record<string, string>;
  connections?: number;
  streams?: number;
  durationS?: number;
  requests?: number;
  warmupS?: number;
  cpu?: number;
  /** Requests per second per client (h2load --rps), for latency at a fixed rate. */
  rps?: number;
}

export async function h2load(options: H2loadOptions): Promise<LoadResult> {
  const dir = await mkdtemp(join(tmpdir(), "bench-h2load-"));
  try {
    const bodyFile = join(dir, "body.bin");
    const logFile = join(dir, "latency.tsv");
    await writeFile(bodyFile, options.body);
    const headers = { "content-type": "application/grpc", te: "trailers", ...options.headers };
    const args = [
      "-c", String(options.connections ?? 1),
      "-m", String(options.streams ?? 100),
      ...(options.requests !== undefined ? ["-n", String(options.requests)] : ["-D", String(options.durationS ?? 10), "--warm-up-time", String(options.warmupS ?? 2)]),
      ...(options.rps === undefined ? [] : ["--rps", String(options.rps)]),
      ...Object.entries(headers).flatMap(([k, v]) => ["-H", `${k}: ${v}`]),
      "-d", bodyFile,
      "--log-file", logFile,
      options.url,
    ];
    const [file, ...rest] = options.cpu === undefined ? ["h2load", ...args] : ["taskset", "-c", String(options.cpu), "h2load", ...args];
    const { stdout } = await run(file!, rest, { maxBuffer: 16 * 1024 * 1024 });
    const rows = (await readFile(logFile, "utf8")).trim().split("\n").filter(Boolean).map((l) => l.split("\t"));
    const latencies = rows.filter((r) => r[1] === "200").map((r) => Number(r[2]) / 1000).sort((a, b) => a - b);
    const errors = rows.length - latencies.length;
    const perSecond = Number(/finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(stdout)?.[1] ?? NaN);
    return { requests: rows.length, perSecond, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), errors, unfinished: true };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface WrkOptions {
  url: string;
  method?: "GET" | "POST";
  body?: string;
  headers?: Record<string, string>;
  connections?: number;
  durationS?: number;
  cpu?: number;
}

/** wrk with a small Lua script for method, body and headers, reporting p50/p99. */
export async function wrk(options: WrkOptions): Promise<LoadResult> {
  const dir = await mkdtemp(join(tmpdir(), "bench-wrk-"));
  try {
    const script = join(dir, "request.lua");
    const headers = Object.entries(options.headers ?? {}).map(([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`).join("\n");
    await writeFile(
      script,
      `wrk.method = ${JSON.stringify(options.method ?? "GET")}
${options.body === undefined ? "" : `wrk.body = ${JSON.stringify(options.body)}`}
${headers}
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %.3f %.3f\\n", summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.duration, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
`,
    );
    const args = ["-t", "1", "-c", String(options.connections ?? 50), "-d", `${options.durationS ?? 10}s`, "-s", script, options.url];
    const [file, ...rest] = options.cpu === undefined ? ["wrk", ...args] : ["taskset", "-c", String(options.cpu), "wrk", ...args];
    const { stdout } = await run(file!, rest, { maxBuffer: 16 * 1024 * 1024 });
    const match = /RESULT (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+)/.exec(stdout);
    if (!match) throw new Error(`wrk printed no result: ${stdout}`);
    const requests = Number(match[1]);
    const durationUs = Number(match[3]);
    return { requests, perSecond: requests / (durationUs / 1e6), p50Ms: Number(match[4]), p99Ms: Number(match[5]), errors: Number(match[2]) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
