import { describe, expect, it } from "vitest";
import { createGroupCommit } from "../src/lib/group-commit.js";

/** A run whose batches finish only when the test says so. */
function heldRuns() {
  const batches: { inputs: string[]; finish(fail?: Error): void }[] = [];
  const run = (inputs: readonly string[]) =>
    new Promise<string[]>((resolve, reject) => {
      batches.push({ inputs: [...inputs], finish: (fail) => (fail === undefined ? resolve(inputs.map((i) => `done:${i}`)) : reject(fail)) });
    });
  return { batches, run };
}

const keyOf = (input: string) => input.split("#")[0] as string;

describe("group commit", () => {
  it("runs a lone call at once, and gathers the calls that arrive while it is in flight", async () => {
    const { batches, run } = heldRuns();
    const group = createGroupCommit({ run, maxBatch: 10, maxInFlight: 1, keyOf });
    const first = group.submit("a");
    expect(batches.map((b) => b.inputs)).toEqual([["a"]]);
    const later = ["c", "b", "d"].map((input) => group.submit(input));
    expect(batches).toHaveLength(1);
    expect(group.queued()).toBe(3);
    batches[0]?.finish();
    expect(await first).toBe("done:a");
    await Promise.resolve();
    // Sorted by key, so concurrent batches lock rows in one order.
    expect(batches[1]?.inputs).toEqual(["b", "c", "d"]);
    expect(group.queued()).toBe(0);
    batches[1]?.finish();
    expect(await Promise.all(later)).toEqual(["done:c", "done:b", "done:d"]);
    expect(group.stats).toEqual({ batches: 2, calls: 4, largest: 3 });
  });

  it("bounds a batch by maxBatch and the batches in flight by maxInFlight", async () => {
    const { batches, run } = heldRuns();
    const group = createGroupCommit({ run, maxBatch: 3, maxInFlight: 2, keyOf });
    const calls = Array.from({ length: 9 }, (_, i) => group.submit(`k${i}`));
    // Two batches of one: each call found a free slot; the rest queue.
    expect(batches.map((b) => b.inputs.length)).toEqual([1, 1]);
    for (let round = 0; batches.some((b) => b.inputs.length > 0); round += 1) {
      const open = batches.splice(0);
      for (const batch of open) {
        expect(batch.inputs.length).toBeLessThanOrEqual(3);
        batch.finish();
      }
      await Promise.all(open.map(() => Promise.resolve()));
      await new Promise((resolve) => setImmediate(resolve));
      if (round > 10) throw new Error("did not drain");
    }
    expect((await Promise.all(calls)).sort()).toEqual(Array.from({ length: 9 }, (_, i) => `done:k${i}`).sort());
    expect(group.stats.largest).toBe(3);
  });

  it("never puts two calls with one key into one batch", async () => {
    const { batches, run } = heldRuns();
    const group = createGroupCommit({ run, maxBatch: 10, maxInFlight: 1, keyOf });
    const first = group.submit("x#0");
    const rest = [group.submit("x#1"), group.submit("y#0"), group.submit("x#2")];
    batches[0]?.finish();
    await first;
    await Promise.resolve();
    expect(batches[1]?.inputs).toEqual(["x#1", "y#0"]);
    batches[1]?.finish();
    await rest[0];
    await Promise.resolve();
    expect(batches[2]?.inputs).toEqual(["x#2"]);
    batches[2]?.finish();
    expect(await Promise.all(rest)).toEqual(["done:x#1", "done:y#0", "done:x#2"]);
  });

  it("fails every call of a failed batch with its error, and goes on with the next", async () => {
    const { batches, run } = heldRuns();
    const group = createGroupCommit({ run, maxBatch: 10, maxInFlight: 1, keyOf });
    const first = group.submit("a");
    const second = [group.submit("b"), group.submit("c")];
    const outage = new Error("database down");
    batches[0]?.finish();
    await first;
    await Promise.resolve();
    batches[1]?.finish(outage);
    for (const call of second) await expect(call).rejects.toBe(outage);
    const after = group.submit("d");
    batches[2]?.finish();
    expect(await after).toBe("done:d");
  });

  it("fails the batch when run answers the wrong number of results", async () => {
    const group = createGroupCommit<string, string>({ run: async () => [], maxBatch: 4, maxInFlight: 1, keyOf });
    await expect(group.submit("a")).rejects.toThrow(/0 results for 1 calls/);
  });
});
