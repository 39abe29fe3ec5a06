/**
 * Which service is asking: Introspect answers only services holding a key from
 * SERVICE_API_KEYS. Keys are compared in constant time, as digests, so neither a
 * key nor its length leaks through timing.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { Logger } from "pino";
import { AppError } from "../errors.js";

/** The name of the service whose key was presented; throws `not_authenticated` for none or an unknown one. */
export type ServiceKeyCheck = (presented: string | undefined) => string;

function fingerprint(key: string): Buffer {
  return createHash("sha256").update(key).digest();
}

export function createServiceKeyCheck(keys: ReadonlyMap<string, string>, log: Pick<Logger, "warn">): ServiceKeyCheck {
  const known = [...keys].map(([name, key]) => ({ name, digest: fingerprint(key) }));
  let warned = false;
  return (presented) => {
    if (known.length === 0) {
      // Only reachable in development: production refuses to start without keys.
      if (!warned) log.warn("SERVICE_API_KEYS is not set: Introspect is open to any caller (development only)");
      warned = true;
      return "development";
    }
    if (presented === undefined) throw new AppError("not_authenticated", "missing x-api-key");
    const digest = fingerprint(presented);
    let match: string | undefined;
    for (const entry of known) if (timingSafeEqual(entry.digest, digest)) match = entry.name;
    if (match === undefined) throw new AppError("not_authenticated", "unknown x-api-key");
    return match;
  };
}
