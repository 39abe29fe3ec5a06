import { Cluster, Redis } from "ioredis";
import { UnavailableError } from "../../core/errors.js";
import type { CodeCheck, Counter, KeyValueStore, SharedCounter } from "../../core/ports/key-value.js";

export interface RedisStoreOptions {
  /** `redis://` or `rediss://` URL of a standalone Redis. */
  url?: string;
  /** `host:port` of some Redis Cluster nodes; used instead of `url` when given. */
  clusterNodes?: string[];
  /** Prepended to every key, scripts' keys included (several deployments may share a Redis). */
  keyPrefix: string;
  /** How long one command may wait for its answer. Default 500. */
  commandTimeoutMs?: number;
  logger?: { warn(obj: object, msg: string): void };
  /** Told of each call (health probes aside) that failed because Redis did not answer. */
  onUnavailable?: (error: UnavailableError) => void;
}

/** How long the factory keeps trying to reach Redis before giving up. */
const CONNECT_WAIT_MS = 3000;
const WARN_EVERY_MS = 30_000;
/** Reconnect back-off: quick at first, never more than a second apart, forever. */
const reconnectDelay = (attempt: number): number => Math.min(50 * 2 ** attempt, 1000);

// Each script touches one key (KEYS[1]), so it is atomic and Cluster-safe, and
// ioredis applies the key prefix to it.
const SCRIPTS = {
  kvPutCode: `
    redis.call("DEL", KEYS[1])
    redis.call("HSET", KEYS[1], "digest", ARGV[1], "failures", 0)
    redis.call("PEXPIRE", KEYS[1], ARGV[2])
    return 1`,
  // Digests are HMACs under a server key, so comparing them here leaks nothing an
  // attacker can steer (they cannot choose digest bytes); doing it inside the
  // script is what makes match-and-delete and mismatch-and-count atomic.
  kvCheckCode: `
    local code = redis.call("HMGET", KEYS[1], "digest", "failures")
    if not code[1] then return {"missing"} end
    if tonumber(code[2]) >= tonumber(ARGV[2]) then
      return {"exhausted", redis.call("PTTL", KEYS[1])}
    end
    if code[1] == ARGV[1] then
      redis.call("DEL", KEYS[1])
      return {"match"}
    end
    return {"mismatch", redis.call("HINCRBY", KEYS[1], "failures", 1), redis.call("PTTL", KEYS[1])}`,
  // The expiry is set only on a key that has none, i.e. on the window's first hit,
  // so later hits do not extend the window.
  kvHit: `
    local count = redis.call("INCR", KEYS[1])
    local ttl = redis.call("PTTL", KEYS[1])
    if ttl < 0 then
      redis.call("PEXPIRE", KEYS[1], ARGV[1])
      ttl = tonumber(ARGV[1])
    end
    return {count, ttl}`,
  // A hash: the total, and each member's own count under "m:" + member (so no
  // member's field is the total's). The window is fixed at the first hit, as in kvHit.
  kvHitShared: `
    local mine = redis.call("HINCRBY", KEYS[1], "m:" .. ARGV[1], 1)
    local total
    if mine <= tonumber(ARGV[2]) then
      total = redis.call("HINCRBY", KEYS[1], "total", 1)
    else
      total = tonumber(redis.call("HGET", KEYS[1], "total") or "0")
    end
    local ttl = redis.call("PTTL", KEYS[1])
    if ttl < 0 then
      redis.call("PEXPIRE", KEYS[1], ARGV[3])
      ttl = tonumber(ARGV[3])
    end
    return {total, mine, ttl}`,
  kvPeek: `
    return {redis.call("GET", KEYS[1]), redis.call("PTTL", KEYS[1])}`,
  kvSetIfAbsent: `
    if redis.call("SET", KEYS[1], ARGV[1], "NX", "PX", ARGV[2]) then
      return {1, tonumber(ARGV[2])}
    end
    return {0, redis.call("PTTL", KEYS[1])}`,
  // Numbers here are millisecond instants: below 2^53, exact in Lua's doubles.
  kvRaise: `
    local current = redis.call("GET", KEYS[1])
    if current then
      local n = tonumber(current)
      if (n == nil and ARGV[3] ~= "1") or (n ~= nil and n >= tonumber(ARGV[1])) then return 0 end
    end
    redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
    return 1`,
} as const;

/** The methods `defineCommand` adds at run time (ioredis cannot type them). */
interface Scripts {
  kvPutCode(key: string, digest: string, ttlMs: number): Promise<unknown>;
  kvCheckCode(key: string, digest: string, maxAttempts: number): Promise<unknown>;
  kvHit(key: string, windowMs: number): Promise<unknown>;
  kvHitShared(key: string, member: string, memberCap: number, windowMs: number): Promise<unknown>;
  kvPeek(key: string): Promise<unknown>;
  kvSetIfAbsent(key: string, value: string, ttlMs: number): Promise<unknown>;
  kvRaise(key: string, value: number, ttlMs: number, overMarker: "0" | "1"): Promise<unknown>;
}

/**
 * A {@link KeyValueStore} on Redis (standalone, or Redis Cluster with `clusterNodes`).
 * Resolves once connected; rejects with `UnavailableError` when Redis does not answer
 * within a few seconds.
 *
 * It fails fast instead of queueing: while Redis is unreachable every call rejects
 * with `UnavailableError("cache", ...)` within about a second (nothing is held for
 * later), and the client reconnects in the background by itself.
 */
export async function createRedisStore(options: RedisStoreOptions): Promise<KeyValueStore> {
  const { keyPrefix, commandTimeoutMs = 500, logger, onUnavailable } = options;
  // commandTimeout bounds a standalone command; Cluster retries (failover, MOVED)
  // can add to it, so every call also gets an overall deadline.
  const deadlineMs = 2 * commandTimeoutMs;
  const client = createClient(options, commandTimeoutMs);

  // The client retries every second while Redis is down: log an outage once, and
  // again only every half minute (a Cluster may never report "ready" in between).
  let down = false;
  let warnedAt = 0;
  /** Why the client is not connected (refused, DNS, ...); cleared once it is. */
  let connectionError: unknown;
  const onError = (error: unknown): void => {
    down = true;
    connectionError = error;
    if (Date.now() - warnedAt < WARN_EVERY_MS) return;
    warnedAt = Date.now();
    logger?.warn({ err: error }, "Redis unreachable; failing calls fast and reconnecting in the background");
  };
  client.on("error", onError);
  client.on("node error", onError);
  client.on("ready", () => {
    connectionError = undefined;
    if (!down) return;
    down = false;
    warnedAt = 0;
    logger?.warn({}, "Redis answers again");
  });

  try {
    await waitUntilReady(client, CONNECT_WAIT_MS);
  } catch (error) {
    client.disconnect();
    throw error;
  }
  // Commands sent while disconnected reject at once from now on, instead of
  // waiting in the offline queue for a reconnect.
  client.options.enableOfflineQueue = false;

  for (const [name, lua] of Object.entries(SCRIPTS)) client.defineCommand(name, { lua, numberOfKeys: 1 });
  const scripts = client as unknown as Scripts;

  // A standalone client's commandTimeout already bounds every call; only a Cluster
  // (whose redirects and retries add up) needs the extra per-call timer.
  const bounded = client instanceof Cluster ? <T>(p: Promise<T>) => withDeadline(p, deadlineMs) : <T>(p: Promise<T>) => p;
  async function call<T>(what: string, run: () => Promise<T>, counted = true): Promise<T> {
    try {
      return await bounded(run());
    } catch (error) {
      // Disconnected, a call fails with "Stream isn't writeable": why the client is
      // not connected is what explains it.
      const notConnected = client.status !== "ready" && connectionError !== undefined;
      const unavailable = notConnected
        ? new UnavailableError("cache", `Redis ${what} failed: ${messageOf(error)} (not connected: ${messageOf(connectionError)})`, { cause: connectionError })
        : new UnavailableError("cache", `Redis ${what} failed: ${messageOf(error)}`, { cause: error });
      if (counted) onUnavailable?.(unavailable);
      throw unavailable;
    }
  }

  // Change announcements ride a second connection (a subscribed connection can do
  // nothing else). Until it is subscribed, and from the moment it drops, nobody may
  // trust an in-process copy; when it comes back, everything cached is dropped,
  // since announcements made meanwhile were lost.
  const channel = `${keyPrefix}changes`;
  const changeListeners: ((key: string | undefined) => void)[] = [];
  const subscriber: Redis | Cluster = client instanceof Cluster ? client.duplicate() : client.duplicate();
  let subscribed = false;
  const dropAll = () => {
    for (const listener of changeListeners) listener(undefined);
  };
  subscriber.on("error", () => {});
  subscriber.on("close", () => {
    subscribed = false;
    dropAll();
  });
  subscriber.on("message", (_channel: string, message: string) => {
    for (const key of message.split("\n")) for (const listener of changeListeners) listener(key);
  });
  const subscribe = () =>
    subscriber.subscribe(channel).then(
      () => {
        dropAll();
        subscribed = true;
      },
      () => {},
    );
  subscriber.on("ready", () => void subscribe());
  await subscribe();

  let closed = false;
  return {
    async putCode(key, digest, ttlMs) {
      assertTtl(ttlMs);
      await call("putCode", () => scripts.kvPutCode(key, digest, ttlMs));
    },

    async checkCode(key, digest, maxAttempts): Promise<CodeCheck> {
      const reply = list(await call("checkCode", () => scripts.kvCheckCode(key, digest, maxAttempts)));
      switch (reply[0]) {
        case "missing":
          return { state: "missing" };
        case "exhausted":
          return { state: "exhausted", ttlMs: Math.max(0, int(reply[1])) };
        case "match":
          return { state: "match" };
        case "mismatch":
          return { state: "mismatch", failures: int(reply[1]), ttlMs: Math.max(0, int(reply[2])) };
        default:
          throw new TypeError(`unexpected checkCode reply ${String(reply[0])}`);
      }
    },

    async hit(key, windowMs): Promise<Counter> {
      assertTtl(windowMs);
      const [count, ttl] = list(await call("hit", () => scripts.kvHit(key, windowMs)));
      return { count: int(count), resetMs: Math.max(0, int(ttl)) };
    },

    async hitShared(key, member, memberCap, windowMs): Promise<SharedCounter> {
      assertTtl(windowMs);
      const [total, byMember, ttl] = list(await call("hitShared", () => scripts.kvHitShared(key, member, memberCap, windowMs)));
      return { total: int(total), byMember: int(byMember), resetMs: Math.max(0, int(ttl)) };
    },

    async peek(key): Promise<Counter> {
      const [value, ttl] = list(await call("peek", () => scripts.kvPeek(key)));
      if (value === null || value === undefined) return { count: 0, resetMs: 0 };
      return { count: Number(str(value)), resetMs: Math.max(0, int(ttl)) };
    },

    async setIfAbsent(key, value, ttlMs) {
      assertTtl(ttlMs);
      const [set, ttl] = list(await call("setIfAbsent", () => scripts.kvSetIfAbsent(key, value, ttlMs)));
      return { set: int(set) === 1, ttlMs: Math.max(0, int(ttl)) };
    },

    async set(key, value, ttlMs) {
      assertTtl(ttlMs);
      await call("set", () => client.set(key, value, "PX", ttlMs));
    },

    async raise(key, value, ttlMs, options = {}) {
      assertTtl(ttlMs);
      if (!Number.isSafeInteger(value)) throw new RangeError("raise takes a whole number");
      await call("raise", () => scripts.kvRaise(key, value, ttlMs, options.overMarker === true ? "1" : "0"));
    },

    async getMany(keys) {
      if (keys.length === 0) return [];
      return call("getMany", () => client.mget(...keys));
    },

    async del(...keys) {
      if (keys.length === 0) return;
      // One DEL per key: a multi-key DEL fails in Cluster when keys span slots.
      await call("del", () => Promise.all(keys.map((key) => client.del(key))));
    },

    async announceChange(keys) {
      if (keys.length === 0) return;
      await call("publish", () => client.publish(channel, keys.join("\n")));
    },

    onChange(listener) {
      changeListeners.push(listener);
    },

    get hearingChanges() {
      return subscribed && !closed && client.status === "ready";
    },

    async ping() {
      // The health probe's failures are the probe's to report (identity_store_up), not errors of calls.
      await call("ping", () => client.ping(), false);
    },

    async close() {
      if (closed) return;
      closed = true;
      subscriber.disconnect();
      try {
        await withDeadline(client.quit(), deadlineMs);
      } catch {
        // Not connected, or Redis did not answer: drop the sockets instead.
        client.disconnect();
      }
    },
  };
}

function createClient({ url, clusterNodes, keyPrefix }: RedisStoreOptions, commandTimeout: number): Redis | Cluster {
  const perConnection = {
    commandTimeout,
    connectTimeout: CONNECT_WAIT_MS,
    // 0: commands caught by a dropped connection are rejected at once, not retried.
    maxRetriesPerRequest: 0,
    // A command whose caller was already told "unavailable" must not run later.
    autoResendUnfulfilledCommands: false,
    // Concurrent calls (the Verify hot path) share one write and one read.
    enableAutoPipelining: true,
  };
  if (clusterNodes && clusterNodes.length > 0) {
    return new Cluster(clusterNodes.map(parseNode), {
      keyPrefix,
      redisOptions: perConnection,
      enableAutoPipelining: true,
      // A lost node is left to slot refreshes (the ioredis 6 default) rather than
      // reconnected in place: calls for it then fail at once instead of being
      // retried by failover handling until the deadline.
      clusterRetryStrategy: reconnectDelay,
      slotsRefreshTimeout: commandTimeout,
    });
  }
  if (!url) throw new TypeError("createRedisStore needs a url or clusterNodes");
  return new Redis(url, { ...perConnection, keyPrefix, retryStrategy: reconnectDelay });
}

function parseNode(node: string): { host: string; port: number } {
  const colon = node.lastIndexOf(":");
  const port = Number(node.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port <= 0) throw new TypeError(`Redis cluster node "${node}" is not host:port`);
  return { host: node.slice(0, colon), port };
}

function waitUntilReady(client: Redis | Cluster, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let lastError: unknown;
    const remember = (error: unknown): void => {
      lastError = error;
    };
    const settle = (): void => {
      clearTimeout(timer);
      client.off("ready", onReady);
      client.off("error", remember);
    };
    const onReady = (): void => {
      settle();
      resolve();
    };
    const timer = setTimeout(() => {
      settle();
      const why = lastError === undefined ? "" : `: ${messageOf(lastError)}`;
      reject(new UnavailableError("cache", `Redis not reachable within ${timeoutMs} ms${why}`, { cause: lastError }));
    }, timeoutMs);
    client.on("ready", onReady);
    client.on("error", remember);
  });
}

function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

function assertTtl(ms: number): void {
  // Redis refuses PX 0, negative and fractional values; refuse them here, plainly.
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new RangeError(`ttl must be a positive whole number of ms, got ${ms}`);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function list(reply: unknown): unknown[] {
  if (!Array.isArray(reply)) throw new TypeError(`expected an array reply, got ${typeof reply}`);
  return reply;
}

function int(value: unknown): number {
  if (typeof value !== "number") throw new TypeError(`expected an integer reply, got ${typeof value}`);
  return value;
}

function str(value: unknown): string {
  if (typeof value !== "string") throw new TypeError(`expected a string reply, got ${typeof value}`);
  return value;
}
