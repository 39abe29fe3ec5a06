/** In-process copies (session state, profiles): bounded by announcements, time, and outages. */
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { createLocalCopies } from "../src/core/local-copies.js";
import { createMemoryStore } from "../src/store/kv/memory.js";

describe("local copies", () => {
  it("answers from memory what was put, until its time is up", async () => {
    const kv = createMemoryStore();
    const local = createLocalCopies<string>(kv, 60);
    local.put("s", "L:1:2", local.mark());
    expect(local.get("s")).toBe("L:1:2");
    await sleep(80);
    expect(local.get("s")).toBeUndefined();
  });

  it("drops a copy when any process announces a change of its key, and keeps the others", async () => {
    const kv = createMemoryStore();
    const local = createLocalCopies<string>(kv, 1000);
    const mark = local.mark();
    local.put("s", "L:1:2", mark);
    local.put("u", "0", mark);
    await kv.announceChange(["u"]);
    expect(local.get("u")).toBeUndefined();
    expect(local.get("s")).toBe("L:1:2");
  });

  it("does not keep values read across a change (they might predate it)", async () => {
    const kv = createMemoryStore();
    const local = createLocalCopies<string>(kv, 1000);
    const mark = local.mark();
    await kv.announceChange(["other"]);
    local.put("s", "L:1:2", mark);
    expect(local.get("s")).toBeUndefined();
  });

  it("trusts nothing while changes are not being heard", async () => {
    const kv = createMemoryStore();
    const local = createLocalCopies<string>(kv, 1000);
    local.put("s", "L:1:2", local.mark());
    await kv.close();
    expect(kv.hearingChanges).toBe(false);
    expect(local.get("s")).toBeUndefined();
  });

  it("stays bounded in size, dropping the oldest first", () => {
    const kv = createMemoryStore();
    const local = createLocalCopies<string>(kv, 1000, 4);
    for (let i = 0; i < 5; i++) local.put(`k${i}`, `v${i}`, local.mark());
    expect(local.get("k0")).toBeUndefined();
    expect(local.get("k4")).toBe("v4");
  });
});
