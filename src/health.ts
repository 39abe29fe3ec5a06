/**
 * Readiness: the stores answer. Checked on a timer (not per request) so health
 * probes cost nothing and every surface (gRPC health, /readyz) tells the same.
 */
export interface Probe {
  name: string;
  check(): Promise<void>;
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

  const runProbe = (probe: Probe) =>
    Promise.race([
      probe.check().then(() => true, () => false),
      new Promise<boolean>((resolve) => setTimeout(resolve, timeoutMs, false).unref()),
    ]);

  const check = async () => {
    const results = await Promise.all(probes.map(runProbe));
    failing = probes.filter((_, i) => !results[i]).map((p) => p.name);
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
