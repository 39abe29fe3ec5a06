/**
 * One provider's circuit breaker. After `failureThreshold` failures in a row the
 * provider is "open": passed over for a back-off (`baseBackoffMs`), so sign-ups do not
 * wait on a dead gateway's time-out each time. When the back-off is over, one call
 * is let through as a trial (half-open): success closes the breaker, failure opens it
 * again for twice as long, up to `maxBackoffMs`.
 */
export interface BreakerSettings {
  failureThreshold: number;
  baseBackoffMs: number;
  maxBackoffMs: number;
}

export const DEFAULT_BREAKER: BreakerSettings = { failureThreshold: 3, baseBackoffMs: 30_000, maxBackoffMs: 5 * 60_000 };

/** `call`: closed; `trial`: the one call after a back-off; `skip`: open, pass it over. */
export type Admission = "call" | "trial" | "skip";

export interface CircuitBreaker {
  admit(): Admission;
  succeeded(): void;
  failed(): void;
  /** Epoch milliseconds of the last failure (0: never failed). */
  readonly lastFailureAt: number;
}

export function createCircuitBreaker(settings: BreakerSettings, now: () => number): CircuitBreaker {
  let failures = 0;
  let backoffMs = settings.baseBackoffMs;
  let openUntil = 0;
  let trialInFlight = false;
  let lastFailureAt = 0;
  return {
    get lastFailureAt() {
      return lastFailureAt;
    },
    admit() {
      if (failures < settings.failureThreshold) return "call";
      if (trialInFlight || now() < openUntil) return "skip";
      trialInFlight = true;
      return "trial";
    },
    succeeded() {
      failures = 0;
      backoffMs = settings.baseBackoffMs;
      trialInFlight = false;
    },
    failed() {
      failures += 1;
      lastFailureAt = now();
      trialInFlight = false;
      if (failures < settings.failureThreshold) return;
      // The failure that opens the breaker waits the base back-off; each failed call
      // after it (a trial, or a call made because every provider was open) doubles it.
      if (failures > settings.failureThreshold) backoffMs = Math.min(backoffMs * 2, settings.maxBackoffMs);
      openUntil = lastFailureAt + backoffMs;
    },
  };
}
