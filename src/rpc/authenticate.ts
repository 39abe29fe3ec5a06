import { timingSafeEqual, createHash } from "node:crypto";
import { AppError } from "../core/errors.js";
import type { CoreDeps } from "../core/deps.js";
import { authenticateAccess, type Caller } from "../core/tokens/authenticate.js";
import type { CallContext } from "./context.js";

/**
 * Reads `authorization: Bearer <access token>`, validates token and session, and
 * marks the response as authenticated. Throws `not_authenticated` without a token.
 */
export async function requireCaller(deps: CoreDeps, ctx: CallContext): Promise<Caller> {
  const header = ctx.header("authorization");
  const match = header === undefined ? null : /^Bearer +([^\s]+) *$/i.exec(header);
  if (match === null) throw new AppError("not_authenticated");
  const caller = await authenticateAccess(deps, match[1]!);
  ctx.userId = caller.user.id;
  ctx.setResponseHeader("x-authenticated", "true");
  ctx.setResponseHeader("x-token-expires-at", String(caller.claims.exp));
  return caller;
}

function fingerprint(key: string): Buffer {
  return createHash("sha256").update(key).digest();
}

/**
 * Checks `x-api-key` against SERVICE_API_KEYS in constant time (comparing digests,
 * so key lengths do not leak either); returns the calling service's name.
 */
export function createServiceKeyCheck(keys: ReadonlyMap<string, string>, log: CoreDeps["log"]): (ctx: CallContext) => string {
  const known = [...keys].map(([name, key]) => ({ name, digest: fingerprint(key) }));
  let warned = false;
  return (ctx) => {
    if (known.length === 0) {
      // Only reachable in development: production refuses to start without keys.
      if (!warned) log.warn("SERVICE_API_KEYS is not set: Introspect is open to any caller (development only)");
      warned = true;
      return "development";
    }
    const presented = ctx.header("x-api-key");
    if (presented === undefined) throw new AppError("not_authenticated", "missing x-api-key");
    const digest = fingerprint(presented);
    let match: string | undefined;
    for (const entry of known) if (timingSafeEqual(entry.digest, digest)) match = entry.name;
    if (match === undefined) throw new AppError("not_authenticated", "unknown x-api-key");
    return match;
  };
}
