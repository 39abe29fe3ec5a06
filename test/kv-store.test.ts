import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { UnavailableError } from "../src/core/errors.js";
import { createMemoryStore } from "../src/store/kv/memory.js";
import { createRedisStore } from "../src/store/kv/redis.js";
import type { KeyValueStore } from "../src/core/ports/key-value.js";
import { eventually } from "./support/eventually.js";
import { REDIS_URL, freshKeyPrefix, realStoresAvailable } from "./support/services.js";

interface StoreHarness {
  store: KeyValueStore;
  /** Lets `ms` pass for the store: a fake clock's tick, or a real wait. */
  elapse(ms: number): Promise<void>;
}

/** The contract of `KeyValueStore`, the same sentences for every implementation. */
function describeStoreContract(name: string, makeStore: () => Promise<StoreHarness>): void {
  describe(`${name} store`, () => {
    let store: KeyValueStore;
    let elapse: (ms: number) => Promise<void>;
    const opened: KeyValueStore[] = [];

    async function fresh(): Promise<void> {
      ({ store, elapse } = await makeStore());
      opened.push(store);
    }

    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });

    describe("one-time codes", () => {
      it("counts mismatches and reports the code dead at the maximum, with the time left", async () => {
        await fresh();
        await store.putCode("otp:a", "digest-a", 60_000);
        expect(await store.checkCode("otp:a", "wrong", 3)).toMatchObject({ state: "mismatch", failures: 1 });
        expect(await store.checkCode("otp:a", "wrong", 3)).toMatchObject({ state: "mismatch", failures: 2 });
        const third = await store.checkCode("otp:a", "wrong", 3);
        expect(third).toMatchObject({ state: "mismatch", failures: 3 });

        const exhausted = await store.checkCode("otp:a", "digest-a", 3);
        expect(exhausted.state).toBe("exhausted");
        if (exhausted.state !== "exhausted") return;
        expect(exhausted.ttlMs).toBeGreaterThan(50_000);
        expect(exhausted.ttlMs).toBeLessThanOrEqual(60_000);
        // Even the right digest does not revive a dead code.
        expect((await store.checkCode("otp:a", "digest-a", 3)).state).toBe("exhausted");
      });

      it("reports a code that was never sent as missing", async () => {
        await fresh();
        expect(await store.checkCode("otp:none", "whatever", 5)).toEqual({ state: "missing" });
      });

      it("matches once and then forgets the code", async () => {
        await fresh();
        await store.putCode("otp:m", "digest-m", 60_000);
        expect(await store.checkCode("otp:m", "wrong", 5)).toMatchObject({ state: "mismatch", failures: 1 });
        expect(await store.checkCode("otp:m", "digest-m", 5)).toEqual({ state: "match" });
        expect(await store.checkCode("otp:m", "digest-m", 5)).toEqual({ state: "missing" });
      });

      it("gives a replacing code a fresh failure count, and the old digest no longer matches", async () => {
        await fresh();
        await store.putCode("otp:b", "old", 60_000);
        await store.checkCode("otp:b", "wrong", 2);
        await store.checkCode("otp:b", "wrong", 2);
        expect((await store.checkCode("otp:b", "old", 2)).state).toBe("exhausted");

        await store.putCode("otp:b", "new", 60_000);
        expect(await store.checkCode("otp:b", "old", 2)).toMatchObject({ state: "mismatch", failures: 1 });
        expect(await store.checkCode("otp:b", "new", 2)).toEqual({ state: "match" });
      });

      it("matches exactly once under 20 parallel callers with the right digest", async () => {
        await fresh();
        await store.putCode("otp:c", "digest-c", 60_000);
        const results = await Promise.all(Array.from({ length: 20 }, () => store.checkCode("otp:c", "digest-c", 5)));
        expect(results.filter((r) => r.state === "match")).toHaveLength(1);
        expect(results.filter((r) => r.state === "missing")).toHaveLength(19);
      });

      it("never evaluates more than the maximum of parallel wrong guesses", async () => {
        await fresh();
        await store.putCode("otp:p", "digest-p", 60_000);
        const results = await Promise.all(Array.from({ length: 30 }, (_, i) => store.checkCode("otp:p", `guess-${i}`, 5)));
        expect(results.filter((r) => r.state === "mismatch")).toHaveLength(5);
        expect(results.filter((r) => r.state === "exhausted")).toHaveLength(25);
      });

      it("forgets a code when its ttl has passed", async () => {
        await fresh();
        await store.putCode("otp:e", "digest-e", 100);
        expect((await store.checkCode("otp:e", "wrong", 5)).state).toBe("mismatch");
        await elapse(150);
        expect(await store.checkCode("otp:e", "digest-e", 5)).toEqual({ state: "missing" });
      });
    });

    describe("fixed-window counters", () => {
      it("counts hits in a window fixed at the first hit", async () => {
        await fresh();
        expect(await store.peek("rl:a")).toEqual({ count: 0, resetMs: 0 });

        const first = await store.hit("rl:a", 150);
        expect(first.count).toBe(1);
        expect(first.resetMs).toBeGreaterThan(100);
        expect(first.resetMs).toBeLessThanOrEqual(150);

        await elapse(60);
        const second = await store.hit("rl:a", 150);
        expect(second.count).toBe(2);
        // A later hit does not push the window's end out.
        expect(second.resetMs).toBeLessThanOrEqual(150 - 60);

        const peeked = await store.peek("rl:a");
        expect(peeked.count).toBe(2);
        expect(peeked.resetMs).toBeGreaterThan(0);
        expect(peeked.resetMs).toBeLessThanOrEqual(second.resetMs);
        expect((await store.peek("rl:a")).count).toBe(2);

        await elapse(150);
        expect(await store.peek("rl:a")).toEqual({ count: 0, resetMs: 0 });
        expect((await store.hit("rl:a", 150)).count).toBe(1);
      });

      it("counts every one of many parallel hits", async () => {
        await fresh();
        const counts = await Promise.all(Array.from({ length: 20 }, () => store.hit("rl:b", 60_000)));
        expect(counts.map((c) => c.count).sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      });

      it("counts a shared window's total with each member's share capped, in a window fixed at the first hit", async () => {
        await fresh();
        const first = await store.hitShared("sh:a", "x", 2, 150);
        expect(first).toMatchObject({ total: 1, byMember: 1 });
        expect(first.resetMs).toBeGreaterThan(100);
        expect(first.resetMs).toBeLessThanOrEqual(150);
        expect(await store.hitShared("sh:a", "x", 2, 150)).toMatchObject({ total: 2, byMember: 2 });
        // Past its cap a member still counts its own hits, but no longer the total.
        expect(await store.hitShared("sh:a", "x", 2, 150)).toMatchObject({ total: 2, byMember: 3 });
        // A member named like the total is just another member.
        expect(await store.hitShared("sh:a", "total", 2, 150)).toMatchObject({ total: 3, byMember: 1 });

        await elapse(60);
        const later = await store.hitShared("sh:a", "y", 2, 150);
        expect(later).toMatchObject({ total: 4, byMember: 1 });
        expect(later.resetMs).toBeLessThanOrEqual(150 - 60);

        await elapse(150);
        expect(await store.hitShared("sh:a", "x", 2, 150)).toMatchObject({ total: 1, byMember: 1 });
      });

      it("counts every one of many parallel shared hits, the cap exactly", async () => {
        await fresh();
        const hits = await Promise.all(Array.from({ length: 20 }, (_, i) => store.hitShared("sh:b", i % 2 === 0 ? "x" : "y", 3, 60_000)));
        expect(hits.map((h) => h.byMember).sort((p, q) => p - q)).toEqual(Array.from({ length: 20 }, (_, i) => Math.floor(i / 2) + 1));
        expect(Math.max(...hits.map((h) => h.total))).toBe(6);
        expect((await store.hitShared("sh:b", "z", 3, 60_000)).total).toBe(7);
      });
    });

    describe("plain values", () => {
      it("sets only an absent key and says how long the existing one still lives", async () => {
        await fresh();
        expect(await store.setIfAbsent("lock:a", "one", 60_000)).toEqual({ set: true, ttlMs: 60_000 });
        const again = await store.setIfAbsent("lock:a", "two", 60_000);
        expect(again.set).toBe(false);
        expect(again.ttlMs).toBeGreaterThan(50_000);
        expect(again.ttlMs).toBeLessThanOrEqual(60_000);
        expect(await store.getMany(["lock:a"])).toEqual(["one"]);
      });

      it("sets an expired key again", async () => {
        await fresh();
        await store.setIfAbsent("lock:b", "one", 100);
        await elapse(150);
        expect((await store.setIfAbsent("lock:b", "two", 100)).set).toBe(true);
        expect(await store.getMany(["lock:b"])).toEqual(["two"]);
      });

      it("raises a watermark but never lowers it, and never replaces a marker that is not a number", async () => {
        await fresh();
        await store.raise("mark:a", 1_700_000_000_500, 60_000);
        await store.raise("mark:a", 1_700_000_000_400, 60_000);
        expect(await store.getMany(["mark:a"])).toEqual(["1700000000500"]);
        await store.raise("mark:a", 1_700_000_000_501, 60_000);
        expect(await store.getMany(["mark:a"])).toEqual(["1700000000501"]);
        await store.set("mark:b", "X", 60_000);
        await store.raise("mark:b", 1_700_000_000_000, 60_000);
        expect(await store.getMany(["mark:b"])).toEqual(["X"]);
        await expect(store.raise("mark:c", 1.5, 60_000)).rejects.toThrow(RangeError);
      });

      it("over a marker, raises a watermark in the marker's place, still never lowering a number", async () => {
        await fresh();
        await store.set("mark:d", "X", 60_000);
        await store.raise("mark:d", 1_700_000_000_000, 60_000, { overMarker: true });
        expect(await store.getMany(["mark:d"])).toEqual(["1700000000000"]);
        await store.raise("mark:d", 1_600_000_000_000, 60_000, { overMarker: true });
        expect(await store.getMany(["mark:d"])).toEqual(["1700000000000"]);
        await store.raise("mark:e", 5, 60_000, { overMarker: true });
        expect(await store.getMany(["mark:e"])).toEqual(["5"]);
        await store.raise("mark:e", 6, 60_000, { overMarker: false });
        expect(await store.getMany(["mark:e"])).toEqual(["6"]);
      });

      it("reads several keys at once, null for absent ones, and deletes them", async () => {
        await fresh();
        await store.set("{s1}:state", "active", 60_000);
        await store.set("{s1}:epoch", "3", 60_000);
        await store.set("{s1}:state", "revoked", 60_000);
        expect(await store.getMany(["{s1}:state", "{s1}:missing", "{s1}:epoch"])).toEqual(["revoked", null, "3"]);
        expect(await store.getMany([])).toEqual([]);

        await store.del("{s1}:state", "{s1}:absent", "other");
        await store.del();
        expect(await store.getMany(["{s1}:state", "{s1}:epoch"])).toEqual([null, "3"]);
      });

      it("forgets a value when its ttl has passed", async () => {
        await fresh();
        await store.set("v:a", "x", 100);
        await elapse(150);
        expect(await store.getMany(["v:a"])).toEqual([null]);
      });

      it("refuses a ttl that is not a positive whole number of milliseconds", async () => {
        await fresh();
        await expect(store.set("v:b", "x", 0)).rejects.toBeInstanceOf(RangeError);
        await expect(store.putCode("v:b", "x", 1.5)).rejects.toBeInstanceOf(RangeError);
      });
    });

    describe("lifecycle", () => {
      it("answers ping and fails with UnavailableError once closed", async () => {
        await fresh();
        await expect(store.ping()).resolves.toBeUndefined();
        await store.close();
        await store.close();
        await expect(store.ping()).rejects.toBeInstanceOf(UnavailableError);
        await expect(store.getMany(["k"])).rejects.toBeInstanceOf(UnavailableError);
      });
    });
  });
}

describeStoreContract("in-process", async () => {
  let t = 1_700_000_000_000;
  return {
    store: createMemoryStore({ now: () => t }),
    elapse: async (ms) => {
      t += ms;
    },
  };
});

describe("in-process store", () => {
  it("drops expired entries that are never read again", async () => {
    let t = 0;
    const store = createMemoryStore({ now: () => t });
    await store.set("old", "x", 1000);
    t += 120_000;
    // A write after the sweep interval sweeps out the old key without reading it;
    // turning the clock back shows it was deleted, not merely expired.
    await store.set("new", "y", 1000);
    t -= 120_000;
    expect(await store.getMany(["old"])).toEqual([null]);
  });
});

describe.runIf(realStoresAvailable())("Redis", () => {
  describeStoreContract("Redis", async () => ({
    store: await createRedisStore({ url: REDIS_URL, keyPrefix: freshKeyPrefix() }),
    elapse: (ms) => sleep(ms),
  }));

  it("announces changed keys to every store on the same prefix, and to no other", async () => {
    const prefix = freshKeyPrefix();
    const a = await createRedisStore({ url: REDIS_URL, keyPrefix: prefix });
    const b = await createRedisStore({ url: REDIS_URL, keyPrefix: prefix });
    const other = await createRedisStore({ url: REDIS_URL, keyPrefix: freshKeyPrefix() });
    try {
      const heardByB: (string | undefined)[] = [];
      const heardByOther: (string | undefined)[] = [];
      b.onChange((key) => heardByB.push(key));
      other.onChange((key) => heardByOther.push(key));
      await eventually(async () => a.hearingChanges && b.hearingChanges, (both) => both, { withinMs: 2000, stepMs: 10 });
      expect(b.hearingChanges).toBe(true);
      await a.announceChange(["{u:1}:s:1", "{u:1}:u"]);
      const keys = (heard: (string | undefined)[]) => heard.filter((k) => k !== undefined);
      await eventually(async () => keys(heardByB), (heard) => heard.length >= 2, { withinMs: 2000, stepMs: 5 });
      // (undefined, "drop everything", is also heard when a subscription starts.)
      expect(keys(heardByB)).toEqual(["{u:1}:s:1", "{u:1}:u"]);
      expect(keys(heardByOther)).toEqual([]);
    } finally {
      await Promise.all([a.close(), b.close(), other.close()]);
    }
    expect(a.hearingChanges).toBe(false);
  });

  it("keeps stores with different prefixes apart", async () => {
    const a = await createRedisStore({ url: REDIS_URL, keyPrefix: freshKeyPrefix() });
    const b = await createRedisStore({ url: REDIS_URL, keyPrefix: freshKeyPrefix() });
    try {
      await a.set("shared", "from-a", 60_000);
      await a.putCode("otp", "digest", 60_000);
      await a.hit("rl", 60_000);
      expect(await b.getMany(["shared"])).toEqual([null]);
      expect(await b.checkCode("otp", "digest", 5)).toEqual({ state: "missing" });
      expect(await b.peek("rl")).toEqual({ count: 0, resetMs: 0 });
      expect((await b.setIfAbsent("shared", "from-b", 60_000)).set).toBe(true);
      expect(await a.getMany(["shared"])).toEqual(["from-a"]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe("Redis store when Redis is unreachable", () => {
  it("refuses to start with UnavailableError when nothing listens", async () => {
    const port = await freePort();
    await expect(createRedisStore({ url: `redis://127.0.0.1:${port}`, keyPrefix: "t:" })).rejects.toBeInstanceOf(
      UnavailableError,
    );
  });
});

describe.runIf(realStoresAvailable())("Redis store when its own Redis goes away", () => {
  let port: number;
  let server: ChildProcess | undefined;
  let store: KeyValueStore;
  const warnings: string[] = [];

  beforeAll(async () => {
    port = await freePort();
    server = await startRedis(port);
    store = await createRedisStore({
      url: `redis://127.0.0.1:${port}`,
      keyPrefix: freshKeyPrefix(),
      logger: { warn: (_obj, msg) => warnings.push(msg) },
    });
  });

  afterAll(async () => {
    await store?.close();
    if (server) await stopRedis(server);
  });

  it("fails every call fast while Redis is down and recovers by itself once it is back", async () => {
    await store.set("k", "v", 60_000);

    await stopRedis(server!);
    server = undefined;
    // Any call, over a couple of seconds of outage, rejects within about a second.
    const outageEnds = Date.now() + 2000;
    while (Date.now() < outageEnds) {
      for (const call of [() => store.getMany(["k"]), () => store.hit("rl", 1000), () => store.checkCode("otp", "d", 5)]) {
        const started = Date.now();
        await expect(call()).rejects.toBeInstanceOf(UnavailableError);
        expect(Date.now() - started).toBeLessThan(1100);
      }
      await sleep(100);
    }
    expect(warnings).toHaveLength(1);

    server = await startRedis(port);
    await eventually(() => store.ping(), () => true, { withinMs: 5000, stepMs: 50 });
    await store.set("k", "back", 60_000);
    expect(await store.getMany(["k"])).toEqual(["back"]);
    expect(warnings.at(-1)).toBe("Redis answers again");
  });

  it("fails a call within about a second when Redis stops answering, and recovers when it resumes", async () => {
    await store.ping();
    server!.kill("SIGSTOP");
    try {
      const started = Date.now();
      await expect(store.getMany(["k"])).rejects.toBeInstanceOf(UnavailableError);
      expect(Date.now() - started).toBeLessThan(1100);
    } finally {
      server!.kill("SIGCONT");
    }
    await eventually(() => store.ping(), () => true, { withinMs: 5000, stepMs: 50 });
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    { stdio: "ignore" },
  );
  try {
    await eventually(() => canConnect(port), () => true, { withinMs: 5000, stepMs: 50 });
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
  return child;
}

async function stopRedis(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  // SIGKILL: a crash, not a polite shutdown (it also ends a SIGSTOPped process).
  child.kill("SIGKILL");
  await exited;
}

function canConnect(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.once("connect", () => (socket.destroy(), resolve()));
    socket.once("error", reject);
  });
}
