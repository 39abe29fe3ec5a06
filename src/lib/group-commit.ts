/**
 * Group commit done by the service: calls that arrive while earlier batches are in
 * flight are gathered and run together, as one multi-row statement (one round trip,
 * one commit), and each caller still gets its own answer. Under light load a call
 * runs at once, alone; under heavy load batches grow, bounded by `maxBatch`, and so
 * the commits per call fall.
 *
 * Two calls with the same key never share a batch (the later one waits for the
 * next), so a batch statement never meets the same row twice. Calls are handed to
 * `run` sorted by key, so concurrent batches lock rows in one order and cannot
 * deadlock on each other.
 */

export interface GroupCommitOptions<I, O> {
  /** Runs one batch: one result per input, in the inputs' order. A throw fails
   * every call of the batch with that error (the batch must be atomic). */
  run(inputs: readonly I[]): Promise<readonly O[]>;
  /** The most calls one batch carries. */
  maxBatch: number;
  /** How many batches may be in flight at once (each holds one connection). */
  maxInFlight: number;
  /** Calls with equal keys never share a batch; batches run sorted by key. */
  keyOf(input: I): string;
}

/** How many calls one batch carries and how many batches run at once, as a store
 * sets them per kind of database. */
export type Batching = Pick<GroupCommitOptions<unknown, unknown>, "maxBatch" | "maxInFlight">;

export interface GroupCommit<I, O> {
  submit(input: I): Promise<O>;
  /** Batches started and calls carried since creation (for the bench and tests). */
  readonly stats: { batches: number; calls: number; largest: number };
  /** Calls submitted and not yet in a batch (waiting for a free slot). */
  queued(): number;
}

interface Pending<I, O> {
  input: I;
  key: string;
  resolve(output: O): void;
  reject(error: unknown): void;
}

export function createGroupCommit<I, O>(options: GroupCommitOptions<I, O>): GroupCommit<I, O> {
  const { run, maxBatch, maxInFlight, keyOf } = options;
  if (!(maxBatch >= 1) || !(maxInFlight >= 1)) throw new RangeError("maxBatch and maxInFlight must be at least 1");
  let queue: Pending<I, O>[] = [];
  let inFlight = 0;
  const stats = { batches: 0, calls: 0, largest: 0 };

  /** Takes up to maxBatch calls with distinct keys off the queue, in arrival order. */
  function takeBatch(): Pending<I, O>[] {
    const batch: Pending<I, O>[] = [];
    const keys = new Set<string>();
    const left: Pending<I, O>[] = [];
    for (const pending of queue) {
      if (batch.length < maxBatch && !keys.has(pending.key)) {
        keys.add(pending.key);
        batch.push(pending);
      } else {
        left.push(pending);
      }
    }
    queue = left;
    return batch.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  function pump(): void {
    while (inFlight < maxInFlight && queue.length > 0) {
      const batch = takeBatch();
      inFlight += 1;
      stats.batches += 1;
      stats.calls += batch.length;
      if (batch.length > stats.largest) stats.largest = batch.length;
      void runBatch(batch);
    }
  }

  async function runBatch(batch: Pending<I, O>[]): Promise<void> {
    try {
      const outputs = await run(batch.map((pending) => pending.input));
      if (outputs.length !== batch.length) throw new Error(`group commit: ${outputs.length} results for ${batch.length} calls`);
      batch.forEach((pending, i) => pending.resolve(outputs[i] as O));
    } catch (error) {
      for (const pending of batch) pending.reject(error);
    } finally {
      inFlight -= 1;
      pump();
    }
  }

  return {
    stats,
    queued: () => queue.length,
    submit(input) {
      return new Promise<O>((resolve, reject) => {
        queue.push({ input, key: keyOf(input), resolve, reject });
        pump();
      });
    },
  };
}
