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

export interface ServerProcess {
  child: ChildProcess;
  grpcPort: number;
  httpPort: number;
  /** Milliseconds from spawn until health answered SERVING. */
  readyMs: number;
  /** Resident set size in KiB, from /proc. */
  rssKiB(): Promise<number>;
  stop(): Promise<void>;
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
export async function startServer(env: Record<string, string>, cpu: number | undefined, nodeArgs: readonly string[] = [], launcher: "node" | "npm" = "node", trustedCa?: Buffer): Promise<ServerProcess> {
  const [grpcPort, httpPort] = [await freePort(), await freePort()];
  const command = launcher === "npm" ? ["npm", "start", "--silent"] : [process.execPath, ...nodeArgs, "scripts/start.mjs"];
  const [file, ...args] = cpu === undefined ? command : ["taskset", "-c", String(cpu), ...command];
  const started = performance.now();
  const child = spawn(file!, args, {
    env: { ...process.env, GRPC_PORT: String(grpcPort), HTTP_PORT: String(httpPort), METRICS_PORT: "0", LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "ignore", "pipe"],
    // npm does not pass SIGTERM on to the script: stop() signals the whole group.
    detached: launcher === "npm",
  });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const health = createClient(Health, createGrpcTransport(trustedCa === undefined ? { baseUrl: `http://127.0.0.1:${grpcPort}` } : { baseUrl: `https://127.0.0.1:${grpcPort}`, nodeOptions: { ca: trustedCa } }));
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited (${child.exitCode}): ${stderr}`);
    if (performance.now() - started > 60_000) throw new Error(`server not ready in 60 s: ${stderr}`);
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
