/**
 * One provider call, timed whatever its outcome (identity_sms_duration_seconds by
 * the sender's `name`). A failover list wraps each of its providers in this, so every
 * attempt is observed once, by the provider that made it.
 */
import type { DomainMetrics } from "../core/ports/metrics.js";
import type { SmsSender } from "./sender.js";

export function observedSender(provider: SmsSender, metrics: Pick<DomainMetrics, "smsCall">): SmsSender {
  return {
    name: provider.name,
    async send(sms) {
      const started = performance.now();
      try {
        await provider.send(sms);
      } finally {
        metrics.smsCall(provider.name, (performance.now() - started) / 1000);
      }
    },
  };
}
