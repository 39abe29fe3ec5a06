import { AppError, UnavailableError } from "../core/errors.js";
import { createCircuitBreaker, DEFAULT_BREAKER, type BreakerSettings, type CircuitBreaker } from "./circuit-breaker.js";
import type { SmsDelivery, SmsMessage, SmsSender } from "./sender.js";

/** What became of one provider for one message (the metrics hook's input). */
export interface SmsAttempt {
  provider: string;
  /** What the code in the message is for. */
  purpose: SmsMessage["purpose"];
  outcome: "ok" | "failed" | "invalid" | "skipped";
  /** How long the call took; 0 for a provider skipped without a call. */
  seconds: number;
}

/** The logger methods the per-call lines need (a pino logger fits). */
export interface SmsCallLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

interface Entry {
  provider: SmsSender;
  breaker: CircuitBreaker;
}

export interface FailoverOptions {
  logger: SmsCallLogger;
  onAttempt?(attempt: SmsAttempt): void;
  breaker?: Partial<BreakerSettings>;
  /** Epoch milliseconds, for the breakers' back-off; injected so tests need not sleep. */
  now?: () => number;
}

/**
 * Sends through `providers` in order. A provider that fails (no answer in time, a 5xx,
 * its own error status) hands over to the next; an answer that the number is invalid
 * stops at once (`invalid_phone`: no other gateway will think better of it). When all
 * fail, one `UnavailableError` lists why, provider by provider.
 *
 * Each provider has a circuit breaker ({@link createCircuitBreaker}): an open one is
 * skipped. When every provider that can reach the number is open, the one whose last
 * failure is oldest is called anyway: it is the likeliest to be back, and refusing
 * without trying would turn a blip into minutes of failed sign-ups.
 *
 * Every call logs one line (provider, outcome, seconds), never the number's code or
 * a key: the providers' error messages are log-safe by contract.
 */
export function createFailoverSender(providers: readonly SmsSender[], options: FailoverOptions): SmsSender {
  const { logger, onAttempt, now = Date.now } = options;
  const settings = { ...DEFAULT_BREAKER, ...options.breaker };
  const entries: Entry[] = providers.map((provider) => ({ provider, breaker: createCircuitBreaker(settings, now) }));

  function report(attempt: SmsAttempt, error?: string): void {
    const line = { provider: attempt.provider, outcome: attempt.outcome, seconds: attempt.seconds };
    if (attempt.outcome === "failed") logger.warn({ ...line, err: error }, "SMS provider call failed");
    else if (attempt.outcome === "skipped") logger.debug(line, "SMS provider skipped");
    else if (attempt.outcome === "invalid") logger.info(line, "SMS provider says the number is invalid");
    else logger.info(line, "SMS provider accepted the message");
    onAttempt?.(attempt);
  }

  /** Calls one provider; resolves undefined when it failed (the reason added to `failures`). */
  async function attempt({ provider, breaker }: Entry, sms: SmsMessage, failures: string[]): Promise<SmsDelivery | undefined> {
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    try {
      const delivery = await provider.send(sms);
      breaker.succeeded();
      report({ provider: provider.name, purpose: sms.purpose, outcome: "ok", seconds: seconds() });
      return delivery;
    } catch (error) {
      if (error instanceof AppError && error.reason === "invalid_phone") {
        // The gateway answered, and sensibly: it is up.
        breaker.succeeded();
        report({ provider: provider.name, purpose: sms.purpose, outcome: "invalid", seconds: seconds() });
        throw error;
      }
      breaker.failed();
      // Only our own errors' messages are known to be log-safe.
      const reason = error instanceof UnavailableError ? error.message : `${provider.name} failed unexpectedly`;
      report({ provider: provider.name, purpose: sms.purpose, outcome: "failed", seconds: seconds() }, reason);
      failures.push(reason);
      return undefined;
    }
  }

  return {
    name: providers.map((provider) => provider.name).join(","),
    async send(sms) {
      const failures: string[] = [];
      const open: Entry[] = [];
      let called = false;
      for (const entry of entries) {
        const { provider, breaker } = entry;
        if (!(provider.reaches?.(sms.to) ?? true)) {
          failures.push(`${provider.name} cannot reach this number`);
          report({ provider: provider.name, purpose: sms.purpose, outcome: "skipped", seconds: 0 });
        } else if (breaker.admit() === "skip") {
          open.push(entry);
          failures.push(`${provider.name} skipped (circuit open)`);
          report({ provider: provider.name, purpose: sms.purpose, outcome: "skipped", seconds: 0 });
        } else {
          called = true;
          const delivery = await attempt(entry, sms, failures);
          if (delivery !== undefined) return delivery;
        }
      }
      if (!called && open.length > 0) {
        const longestQuiet = open.reduce((a, b) => (b.breaker.lastFailureAt < a.breaker.lastFailureAt ? b : a));
        const delivery = await attempt(longestQuiet, sms, failures);
        if (delivery !== undefined) return delivery;
      }
      throw new UnavailableError("sms", `every SMS provider failed: ${failures.join("; ")}`);
    },
    close: async () => {
      await Promise.all(providers.map((provider) => provider.close?.()));
    },
  };
}
