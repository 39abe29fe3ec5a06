import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createLocalCopies } from "../../src/core/local-copies.js";
import { createMemoryStore } from "../../src/store/kv/memory.js";

/** What the copies listen to, driven by the test: a shared store's announcements,
 * including the "announcements may have been missed" that a reconnect brings. */
function announcements() {
  const listeners: ((key: string | undefined) => void)[] = [];
  return {
    hearingChanges: true,
    onChange(listener: (key: string | undefined) => void) {
      listeners.push(listener);
    },
    announce(key: string | undefined) {
      for (const listener of listeners) listener(key);
    },
  };
}

beforeEach(() => {
  // Staleness is measured on the monotonic clock: move it without sleeping.
  vi.useFakeTimers({ toFake: ["performance"] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe("createLocalCopies", () => {
  it("holds a value put since its mark, and nothing else", () => {
    const copies = createLocalCopies<string>(announcements(), 1_000);
    expect(copies.get("a")).toBeUndefined();
    copies.put("a", "one", copies.mark());
    expect(copies.get("a")).toBe("one");
    expect(copies.get("b")).toBeUndefined();
  });

  it("keeps a copy for ttlMs of real time, not a moment longer", () => {
    const copies = createLocalCopies<string>(announcements(), 1_000);
    copies.put("a", "one", copies.mark());
    vi.advanceTimersByTime(999);
    expect(copies.get("a")).toBe("one");
    vi.advanceTimersByTime(1);
    expect(copies.get("a")).toBeUndefined();
  });

  it("drops the copy of a key announced as changed, and only that one", async () => {
    const kv = createMemoryStore();
    const copies = createLocalCopies<string>(kv, 1_000);
    copies.put("a", "one", copies.mark());
    copies.put("b", "two", copies.mark());
    await kv.announceChange(["a"]);
    expect(copies.get("a")).toBeUndefined();
    expect(copies.get("b")).toBe("two");
    copies.drop("b");
    expect(copies.get("b")).toBeUndefined();
  });

  it("drops every copy when announcements may have been missed", () => {
    const changes = announcements();
    const copies = createLocalCopies<string>(changes, 1_000);
    copies.put("a", "one", copies.mark());
    copies.put("b", "two", copies.mark());
    changes.announce(undefined);
    expect(copies.get("a")).toBeUndefined();
    expect(copies.get("b")).toBeUndefined();
  });

  it("does not keep a value read before a change was heard, whichever key changed", () => {
    const changes = announcements();
    const copies = createLocalCopies<string>(changes, 1_000);
    const mark = copies.mark();
    changes.announce("other");
    copies.put("a", "stale", mark);
    expect(copies.get("a")).toBeUndefined();
    const dropMark = copies.mark();
    copies.drop("x");
    copies.put("a", "stale", dropMark);
    expect(copies.get("a")).toBeUndefined();
    copies.put("a", "fresh", copies.mark());
    expect(copies.get("a")).toBe("fresh");
  });

  it("trusts no copy and keeps none while announcements are not heard", () => {
    const changes = announcements();
    const copies = createLocalCopies<string>(changes, 1_000);
    copies.put("a", "one", copies.mark());
    changes.hearingChanges = false;
    expect(copies.get("a")).toBeUndefined();
    copies.put("b", "two", copies.mark());
    changes.hearingChanges = true;
    expect(copies.get("b")).toBeUndefined();
  });

  it("holds at most maxEntries, letting the oldest go first", () => {
    const copies = createLocalCopies<string>(announcements(), 1_000, 2);
    copies.put("a", "one", copies.mark());
    copies.put("b", "two", copies.mark());
    // Replacing a held key takes no room.
    copies.put("b", "two again", copies.mark());
    expect(copies.get("a")).toBe("one");
    copies.put("c", "three", copies.mark());
    expect(copies.get("a")).toBeUndefined();
    expect(copies.get("b")).toBe("two again");
    expect(copies.get("c")).toBe("three");
  });
});
