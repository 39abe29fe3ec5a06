/**
 * Small tools the gRPC suites share: a clock tests can move, JWT decoding, a
 * per-test Redis key scan (and ageing, the clock's counterpart for TTLs), and a
 * private redis-server child to stop and start.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import type { Config } from "../../src/config.js";
import type { Clock } from "../../src/core/clock.js";
import { freshStores, startService, type Service, type StartOptions, type StoreMode, type Stores } from "./grpc-harness.js";
import { REDIS_URL } from "./services.js";

/** A clock that runs with real time, plus whatever the test has advanced it by. */
export interface MovableClock extends Clock {
  advance(ms: number): void;
}

export function movableClock(): MovableClock {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    advance(ms) {
      offset += ms;
    },
  };
}

/** A clock that stands still until the test moves it (same-instant races). */
export function frozenClock(start = Date.now()): MovableClock {
  let now = start;
  return {
    now: () => now,
    advance(ms) {
      now += ms;
    },
  };
}

export function jwtPayload(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString("utf8")) as Record<string, unknown>;
}

export function jwtHeader(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString("utf8")) as Record<string, unknown>;
}

/** A connection to the shared test Redis, without a key prefix (tests pass full keys). */
export function sharedRedis(): Redis {
  return new Redis(REDIS_URL, { lazyConnect: false, maxRetriesPerRequest: 1 });
}

/** Every key under `prefix` (SCAN, never KEYS: the shared Redis serves other files). */
export async function keysUnder(redis: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await redis.scan(cursor, "MATCH", `${escapeGlob(prefix)}*`, "COUNT", 500);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== "0");
  return keys;
}

/** Deletes this test's keys only. Never FLUSHALL: other test files share the Redis. */
export async function deleteKeysUnder(redis: Redis, prefix: string): Promise<number> {
  const keys = await keysUnder(redis, prefix);
  for (const key of keys) await redis.del(key);
  return keys.length;
}

/**
 * Lets `ms` pass for this test's keys: every TTL under `prefix` shrinks by `ms`,
 * and keys whose time is up go, as Redis would expire them. The movable clock's
 * counterpart for Redis, whose TTLs run on real time.
 */
export async function ageKeysUnder(redis: Redis, prefix: string, ms: number): Promise<void> {
  for (const key of await keysUnder(redis, prefix)) {
    const ttl = await redis.pttl(key);
    if (ttl < 0) continue;
    if (ttl <= ms) await redis.del(key);
    else await redis.pexpire(key, ttl - ms);
  }
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A redis-server of the test's own, on a fixed port, that it may stop and start. */
export interface RedisChild {
  port: number;
  url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function redisChild(): Promise<RedisChild> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const answers = () =>
    new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: "127.0.0.1", port });
      socket.once("connect", () => (socket.destroy(), resolve(true)));
      socket.once("error", () => resolve(false));
    });
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
      for (let i = 0; i < 100; i++) {
        if (await answers()) return;
        await sleep(20);
      }
      throw new Error(`redis-server did not start on port ${port}`);
    },
    async stop() {
      if (child === undefined || child.exitCode !== null) return;
      const exited = once(child, "exit");
      child.kill("SIGKILL");
      await exited;
      child = undefined;
    },
  };
}

/**
 * One set of stores per suite, and one service on them at a time. Starting the
 * embedded database costs about a second, so a suite restarts its service (on the
 * same stores) only when a test asks for a different configuration.
 */
export interface Lab {
  /** A service with these variables on the suite's stores; reused while they stay the same. */
  service(env?: Record<string, string>, options?: Omit<StartOptions, "env">): Promise<Service>;
  readonly stores: Stores | undefined;
  /** Stops the current service (its stores stay). */
  stopService(): Promise<void>;
  close(): Promise<void>;
}

/** `defaults` (a shared clock, say) go to every service that is given no options. */
export function lab(mode: StoreMode, defaults: Omit<StartOptions, "env"> = {}): Lab {
  let stores: Stores | undefined;
  let current: { key: string | undefined; service: Service } | undefined;
  const stopService = async () => {
    const running = current;
    current = undefined;
    await running?.service.stop();
  };
  return {
    get stores() {
      return stores;
    },
    async service(env = {}, options = {}) {
      // Options with functions or objects in them (a clock, a hook) are never shared.
      const key = Object.keys(options).length === 0 ? JSON.stringify(Object.entries(env).sort()) : undefined;
      if (current !== undefined && key !== undefined && current.key === key) return current.service;
      await stopService();
      stores ??= await freshStores(mode);
      const chosen = Object.keys(options).length === 0 ? defaults : options;
      current = { key, service: await startService(stores, { ...chosen, env }) };
      return current.service;
    },
    stopService,
    async close() {
      await stopService();
      await stores?.drop();
      stores = undefined;
    },
  };
}

/** The Redis key prefix of a service on real stores (the in-process store has none). */
export function redisKeyPrefixOf(config: Config): string {
  if (config.kv.kind !== "redis") throw new Error("this service runs on the in-process store, not Redis");
  return config.kv.keyPrefix;
}
