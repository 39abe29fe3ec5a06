/**
 * The service's public keys as a local verifier holds them: from GetJwks, fetched
 * again when a token names a `kid` not held (a rotation), at most once per floor, so
 * a stream of tokens with made-up kids cannot turn into a stream of fetches. A bad
 * signature under a known kid never fetches.
 */
import type { Client } from "@connectrpc/connect";
import type { Clock } from "../core/clock.js";
import { verifyingKeysOfJwks, type VerifyingKeys } from "../core/tokens/keys.js";
import { jwkOfMessage } from "../rpc/convert.js";
import type { TokenService } from "../../gen/identity/v1/token_pb.js";

/** Whether a kid can be judged: held; not held by the service either; or unknown (no JWKS could be fetched). */
export type KidStatus = "held" | "not_published" | "unsure";

export interface RemoteKeys {
  current(): VerifyingKeys;
  /** Fetches the JWKS again when `kid` is not held and the floor allows. */
  lookup(kid: string): Promise<KidStatus>;
  /** GetJwks calls made so far. */
  readonly fetches: number;
}

export interface RemoteKeysOptions {
  tokens: Pick<Client<typeof TokenService>, "getJwks">;
  clock: Clock;
  timeoutMs: number;
  /** Least time between two fetches. */
  floorMs: number;
  /** Fetched again after this long even when every kid is known (keys may be withdrawn). */
  maxAgeMs: number;
}

export function remoteKeys(options: RemoteKeysOptions): RemoteKeys {
  let keys: VerifyingKeys = { verification: new Map(), algorithms: [] };
  let fetchedOk = false;
  let lastFetchMs = -Infinity;
  let fetches = 0;
  let inFlight: Promise<void> | undefined;

  const fetch = (): Promise<void> => {
    inFlight ??= (async () => {
      lastFetchMs = options.clock.now();
      fetches += 1;
      try {
        const response = await options.tokens.getJwks({}, { timeoutMs: options.timeoutMs });
        keys = await verifyingKeysOfJwks(response.keys.map(jwkOfMessage));
        fetchedOk = true;
      } catch {
        // The keys held stay; a kid they lack is `unsure` until a fetch succeeds.
        fetchedOk = false;
      } finally {
        inFlight = undefined;
      }
    })();
    return inFlight;
  };

  return {
    current: () => keys,
    async lookup(kid) {
      const sinceMs = options.clock.now() - lastFetchMs;
      if (keys.verification.has(kid)) {
        if (sinceMs >= options.maxAgeMs) void fetch();
        return "held";
      }
      if (inFlight !== undefined) await inFlight;
      else if (sinceMs >= options.floorMs) await fetch();
      if (keys.verification.has(kid)) return "held";
      return fetchedOk ? "not_published" : "unsure";
    },
    get fetches() {
      return fetches;
    },
  };
}
