/**
 * A store's health as operators see it: identity_store_up, and one log line when the
 * store stops answering (naming it and why) and one when it answers again (saying how
 * long it was gone), however many calls failed in between. Driven by the readiness
 * probes (one a second), so the gauge, the log and /readyz tell the same story.
 */
import type { StoreName } from "../observability/metrics.js";
import { unreachableReason } from "./unreachable-cause.js";

export interface StoreWatchLog {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface StoreWatch {
  /** One probe's outcome: `undefined` when the store answered, else why it did not. */
  probed(failure: unknown): void;
}

export interface StoreWatchOptions {
  log: StoreWatchLog;
  /** identity_store_up's setter; absent when metrics are off. */
  up?: (store: StoreName, up: boolean) => void;
  now?: () => number;
}

export function watchStore(store: StoreName, { log, up, now = () => performance.now() }: StoreWatchOptions): StoreWatch {
  /** When the outage began; undefined while the store answers (or before the first probe). */
  let downSince: number | undefined;
  let probedOnce = false;
  return {
    probed(failure) {
      const answered = failure === undefined;
      if (probedOnce && answered === (downSince === undefined)) return;
      probedOnce = true;
      up?.(store, answered);
      if (answered) {
        if (downSince !== undefined) log.info({ store, downMs: Math.round(now() - downSince) }, "store back");
        downSince = undefined;
      } else {
        downSince = now();
        const { cause, detail } = unreachableReason(failure);
        log.warn({ store, cause, detail }, "store down");
      }
    },
  };
}
