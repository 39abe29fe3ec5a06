/**
 * What one provider call counts (the failover sender's `onAttempt`):
 * identity_sms_duration_seconds by the provider that was called, and
 * identity_otp_sent_total by purpose, that provider and whether it took the message.
 * A provider skipped (circuit open, number out of its reach) was not called: nothing.
 * An answer that the number is invalid is timed but is no send and no provider
 * failure (the number's fault), so it is not in otp_sent.
 */
import { AppError } from "../core/errors.js";
import type { DomainMetrics } from "../core/ports/metrics.js";
import type { SmsAttempt } from "./failover.js";
import type { SmsSender } from "./sender.js";

export function countSmsAttempts(metrics: Pick<DomainMetrics, "otpSent" | "smsCall">): (attempt: SmsAttempt) => void {
  return ({ provider, purpose, outcome, seconds }) => {
    if (outcome === "skipped") return;
    metrics.smsCall(provider, seconds);
    if (outcome !== "invalid") metrics.otpSent(purpose, provider, outcome === "ok" ? "ok" : "error");
  };
}

/** A sender handed in whole (tests, embedding applications: no failover list around
 * it) reports each of its calls as one attempt, as a list reports each provider's. */
export function observedSender(provider: SmsSender, onAttempt: (attempt: SmsAttempt) => void): SmsSender {
  return {
    name: provider.name,
    async send(sms) {
      const started = performance.now();
      const report = (outcome: SmsAttempt["outcome"]) => onAttempt({ provider: provider.name, purpose: sms.purpose, outcome, seconds: (performance.now() - started) / 1000 });
      try {
        const delivery = await provider.send(sms);
        report("ok");
        return delivery;
      } catch (error) {
        report(error instanceof AppError && error.reason === "invalid_phone" ? "invalid" : "failed");
        throw error;
      }
    },
  };
}
