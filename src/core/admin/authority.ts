/**
 * Who may call the staff operations, and as whom they are recorded: an active staff
 * user, or a service whose key carries the admin scope.
 */
import { AppError } from "../errors.js";
import type { CoreDeps } from "../deps.js";
import type { Actor } from "../ports/audit.js";
import type { Caller } from "../tokens/authenticate.js";

/**
 * The caller as staff, read from the store on every call and never from the token's
 * `is_staff` claim: a promotion counts for tokens issued before it, and a demotion
 * or deactivation from the next call. `permission_denied` for anyone else.
 */
export async function staffActor(deps: Pick<CoreDeps, "users">, caller: Caller): Promise<Actor> {
  const user = await deps.users.findById(caller.user.id);
  if (user === undefined || !user.isActive || !user.isStaff) throw new AppError("permission_denied", "not active staff");
  return { kind: "staff", id: user.id };
}

/** The service presenting `key`: `not_authenticated` for a key nobody holds,
 * `permission_denied` for one without the admin scope (it may call Introspect only). */
export function serviceActor(deps: Pick<CoreDeps, "serviceKeys" | "config">, key: string): Actor {
  const name = deps.serviceKeys(key);
  // With no keys configured (development) Introspect is open to "development"; staff
  // operations never are.
  if (!deps.config.adminServiceKeys.has(name)) throw new AppError("permission_denied", "this service key has no admin scope");
  return { kind: "service", name };
}
