/**
 * A DomainMetrics that keeps every event as it was said, so core tests assert the
 * exact counts a use case makes (which, how many, with what labels).
 */
import { expect } from "vitest";
import type { DomainMetrics } from "../../../src/core/ports/metrics.js";

/** One call of the port: the method's name and its arguments. */
export type MetricEvent = { [K in keyof DomainMetrics]: [K, ...Parameters<DomainMetrics[K]>] }[keyof DomainMetrics];

export interface RecordedMetrics extends DomainMetrics {
  /** Every event since the last `take`, oldest first. */
  readonly events: readonly MetricEvent[];
  /** The events so far (`smsCall`'s seconds left out: how long is not a rule), and forgets them. */
  take(): MetricEvent[];
}

export function recordedMetrics(): RecordedMetrics {
  let events: MetricEvent[] = [];
  return {
    get events() {
      return events;
    },
    take() {
      const taken = events.map((event): MetricEvent => (event[0] === "smsCall" ? ["smsCall", event[1], expect.any(Number) as number] : event));
      events = [];
      return taken;
    },
    verified: (...args) => void events.push(["verified", ...args]),
    otpChecked: (...args) => void events.push(["otpChecked", ...args]),
    otpSent: (...args) => void events.push(["otpSent", ...args]),
    smsCall: (...args) => void events.push(["smsCall", ...args]),
    tokensIssued: (...args) => void events.push(["tokensIssued", ...args]),
    refreshed: (...args) => void events.push(["refreshed", ...args]),
    sessionsRevoked: (...args) => void events.push(["sessionsRevoked", ...args]),
    rateLimited: (...args) => void events.push(["rateLimited", ...args]),
  };
}
