import type { CoreDeps } from "../deps.js";
import { REVOCATIONS_CHANGED } from "./hub.js";

/**
 * Tells every instance's feed that revocations committed, so their streams send them
 * now rather than at the next poll. Not awaited by the revocation and never failing
 * it: the change is committed, and the poll finds it anyway.
 */
export function announceRevocations(deps: Pick<CoreDeps, "kv" | "log">): void {
  deps.kv.announceChange([REVOCATIONS_CHANGED]).catch((error: unknown) => deps.log.warn({ err: String(error) }, "revocation not announced (the feed's poll finds it)"));
}
