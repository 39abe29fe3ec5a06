/**
 * Readiness: the stores answer. Checked on a timer (not per request) so health
 * probes cost nothing and every surface (gRPC health, /readyz) tells the same.
 */
export interface Probe {
  name: string;
  check(): Promise<void>;
  /** Told each check's outcome: `undefined` when the probe passed, else its error. */
  observe?(failure: unknown): void;
}

/** A probe with no answer within the time allowed (a hung store). */
export class ProbeTimeoutError extends Error {
  override name = "ProbeTimeoutError";
  constructor(probe: string, ms: number) {
    super(`${probe} probe: no answer within ${ms} ms`);
  }
}

export interface Readiness {
  readonly ready: boolean;
  /** Names of the probes failing at the last check. */
  readonly failing: readonly string[];
  onChange(listener: (ready: boolean) => void): void;
  /** Runs the probes now. */
  check(): Promise<boolean>;
  stop(): void;
}

export function monitorReadiness(probes: readonly Probe[], intervalMs = 1000, timeoutMs = 800): Readiness {
  let ready = false;
  let failing: string[] = probes.map((p) => p.name);
  const listeners: ((ready: boolean) => void)[] = [];

  /** Resolves to undefined when the probe passed, else to why it did not. */
  const runProbe = async (probe: Probe): Promise<unknown> => {
    let timer: NodeJS.Timeout | undefined;
    const failure = await Promise.race([
      probe.check().then(
        () => undefined,
        (error: unknown) => error ?? new Error(`${probe.name} probe failed`),
      ),
      new Promise<Error>((resolve) => (timer = setTimeout(() => resolve(new ProbeTimeoutError(probe.name, timeoutMs)), timeoutMs).unref())),
    ]);
    clearTimeout(timer);
    probe.observe?.(failure);
    return failure;
  };

  const check = async () => {
    const failures = await Promise.all(probes.map(runProbe));
    failing = probes.filter((_, i) => failures[i] !== undefined).map((p) => p.name);
    const now = failing.length === 0;
    if (now !== ready) {
      ready = now;
      for (const listener of listeners) listener(ready);
    }
    return ready;
  };

  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    check().finally(() => (running = false));
  }, intervalMs);
  timer.unref();

  return {
    get ready() {
      return ready;
    },
    get failing() {
      return failing;
    },
    onChange: (listener) => void listeners.push(listener),
    check,
    stop: () => clearInterval(timer),
  };
}
