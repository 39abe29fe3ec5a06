/** The in-process copy of session state: bounded by announcements, time, and outages. */
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { createLocalSessionState } from "../src/core/sessions/local-state.js";
import { createMemoryStore } from "../src/store/kv/memory.js";

describe("local session state", () => {
  it("answers from memory what was put, until its time is up", async () => {
    const kv = createMemoryStore();
    const local = createLocalSessionState(kv, 60);
    local.put("s", "u", "L:1:2", "0", local.mark());
    expect(local.get("s", "u")).toEqual(["L:1:2", "0"]);
    await sleep(80);
    expect(local.get("s", "u")).toBeUndefined();
  });

  it("drops a copy when any process announces a change of its key", async () => {
    const kv = createMemoryStore();
    const local = createLocalSessionState(kv);
    local.put("s", "u", "L:1:2", "0", local.mark());
    await kv.announceChange(["u"]);
    expect(local.get("s", "u")).toBeUndefined();
  });

  it("does not keep values read across a change (they might predate it)", async () => {
    const kv = createMemoryStore();
    const local = createLocalSessionState(kv);
    const mark = local.mark();
    await kv.announceChange(["other"]);
    local.put("s", "u", "L:1:2", "0", mark);
    expect(local.get("s", "u")).toBeUndefined();
  });

  it("trusts nothing while changes are not being heard", async () => {
    const kv = createMemoryStore();
    const local = createLocalSessionState(kv);
    local.put("s", "u", "L:1:2", "0", local.mark());
    await kv.close();
    expect(kv.hearingChanges).toBe(false);
    expect(local.get("s", "u")).toBeUndefined();
  });

  it("stays bounded in size, dropping the oldest first", () => {
    const kv = createMemoryStore();
    const local = createLocalSessionState(kv, 1000, 4);
    for (let i = 0; i < 3; i++) local.put(`s${i}`, `u${i}`, "L:1:2", "0", local.mark());
    expect(local.get("s0", "u0")).toBeUndefined();
    expect(local.get("s2", "u2")).toEqual(["L:1:2", "0"]);
  });
});
