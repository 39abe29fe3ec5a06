/**
 * A Redis Cluster of the test's own: three masters on loopback ports, no replicas,
 * no persistence, joined with `redis-cli --cluster create`. Each node also needs
 * its cluster-bus port (PORT + 10000) free, so ports are chosen in pairs.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { Redis } from "ioredis";

const run = promisify(execFile);
const BUS_OFFSET = 10_000;

export interface RedisCluster {
  /** `127.0.0.1:PORT` of every master, as REDIS_CLUSTER_NODES wants them. */
  nodes: string[];
  ports: number[];
  /** A plain (non-cluster) connection to one node, for CLUSTER/SCAN/FLUSHALL; closed by `stop`. */
  node(port: number): Redis;
  /** Kills one node (SIGKILL): its slots stop answering. */
  kill(port: number): Promise<void>;
  /** Starts a killed node again on its port and config file (same id and slots, no
   * data: nothing is persisted) and waits until the cluster is ok again. */
  revive(port: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedisCluster(size = 3): Promise<RedisCluster> {
  const dir = await mkdtemp(join(tmpdir(), "redis-cluster-"));
  const ports = await freePortPairs(size);
  const children = new Map<number, ChildProcess>();
  const connections = new Map<number, Redis>();

  const launch = async (port: number) => {
    const child = spawn(
      "redis-server",
      [
        "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--cluster-enabled", "yes", "--cluster-config-file", join(dir, `nodes-${port}.conf`),
        // A node down this long is marked failed and the whole cluster stops serving;
        // kill/revive tests keep their outage shorter.
        "--cluster-node-timeout", "3000", "--dir", dir,
      ],
      { stdio: "ignore" },
    );
    children.set(port, child);
    for (let i = 0; i < 150; i++) {
      if (await answers(port)) return;
      if (child.exitCode !== null) break;
      await sleep(20);
    }
    throw new Error(`redis-server did not start on port ${port}`);
  };
  const kill = async (port: number) => {
    const child = children.get(port);
    children.delete(port);
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, "exit");
    child.kill("SIGKILL");
    await exited;
  };
  const node = (port: number) => {
    let connection = connections.get(port);
    if (connection === undefined) {
      connection = new Redis({ host: "127.0.0.1", port, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
      connection.on("error", () => {});
      connections.set(port, connection);
    }
    return connection;
  };
  const stop = async () => {
    for (const connection of connections.values()) connection.disconnect();
    connections.clear();
    for (const port of [...children.keys()]) await kill(port);
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await Promise.all(ports.map(launch));
    const nodes = ports.map((port) => `127.0.0.1:${port}`);
    await run("redis-cli", ["--cluster", "create", ...nodes, "--cluster-replicas", "0", "--cluster-yes"], { timeout: 20_000 });
    await untilClusterOk(ports, node);
    return {
      nodes,
      ports,
      node,
      kill,
      async revive(port) {
        await launch(port);
        await untilClusterOk(ports, node);
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Every node sees every slot served (`cluster_state:ok`). */
async function untilClusterOk(ports: number[], node: (port: number) => Redis, timeoutMs = 20_000): Promise<void> {
  const started = Date.now();
  for (;;) {
    const states = await Promise.all(ports.map((port) => node(port).cluster("INFO").then(String, () => "")));
    if (states.every((info) => info.includes("cluster_state:ok"))) return;
    if (Date.now() - started > timeoutMs) throw new Error(`Redis Cluster not ok within ${timeoutMs} ms`);
    await sleep(50);
  }
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });
}

/** Whether nobody listens on `port` right now (bound and released at once). */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/**
 * Ports P with P and P + 10000 both free. Both stay below the usual ephemeral range
 * (32768 and up), where other tests' `freePort()` picks ports to stop and restart
 * their own servers on: neither side can then take the other's port meanwhile.
 */
async function freePortPairs(count: number): Promise<number[]> {
  const chosen: number[] = [];
  for (let tries = 0; chosen.length < count && tries < 500; tries++) {
    const port = 12_000 + Math.floor(Math.random() * 10_000);
    const taken = chosen.flatMap((p) => [p, p + BUS_OFFSET]);
    if (taken.includes(port) || taken.includes(port + BUS_OFFSET)) continue;
    if ((await bindable(port)) && (await bindable(port + BUS_OFFSET))) chosen.push(port);
  }
  if (chosen.length < count) throw new Error("no free port pairs for a Redis Cluster");
  return chosen;
}
