/**
 * Closed-loop workers in the bench process, for flows h2load cannot drive (each
 * refresh consumes the token it sends; each login needs its own code).
 */
export interface Throughput {
  operations: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

/** Runs `concurrency` loops of `step` until `durationMs` passes or `step` returns false. */
export async function closedLoop(concurrency: number, durationMs: number, step: (worker: number) => Promise<boolean>): Promise<Throughput> {
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const deadline = started + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      while (performance.now() < deadline) {
        const t = performance.now();
        try {
          if (!(await step(worker))) return;
          latencies.push(performance.now() - t);
        } catch {
          errors += 1;
        }
      }
    }),
  );
  const elapsedS = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0;
  return { operations: latencies.length, perSecond: latencies.length / elapsedS, p50Ms: at(50), p99Ms: at(99), errors };
}

