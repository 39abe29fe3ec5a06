import { AppError } from "../errors.js";
import type { CoreDeps } from "../deps.js";
import type { Caller } from "../tokens/authenticate.js";
import type { ClientInfo } from "../ports/sessions.js";
import type { User } from "../ports/users.js";
import { UNKNOWN_CLIENT } from "../sessions/client.js";
import { cleanName } from "./names.js";

/** The name under which a change of the user's profile is announced to every
 * process (and the key of its in-process copy). Not a stored key. */
function profileKey(userId: string): string {
  return `{u:${userId}}:p`;
}

/** The caller's profile, from the in-process copy when one is held. */
export async function getProfile(deps: CoreDeps, caller: Caller): Promise<User> {
  const key = profileKey(caller.user.id);
  const held = deps.localProfiles?.get(key);
  if (held !== undefined) return held;
  const mark = deps.localProfiles?.mark() ?? 0;
  const user = await deps.users.findById(caller.user.id);
  if (user === undefined) throw new AppError("session_revoked", "user no longer exists");
  deps.localProfiles?.put(key, user, mark);
  return user;
}

/** Tells every process (this one too) to drop its copy of the user's profile. */
export async function announceProfileChange(deps: Pick<CoreDeps, "kv" | "localProfiles">, userId: string): Promise<void> {
  const key = profileKey(userId);
  deps.localProfiles?.drop(key);
  await deps.kv.announceChange([key]);
}

/** Changes only the names given, and records which changed (user.profile_updated).
 * Tokens already issued keep the old names until refreshed. */
export async function updateProfile(
  deps: CoreDeps,
  caller: Caller,
  changes: { firstName?: string | undefined; lastName?: string | undefined },
  client: ClientInfo = UNKNOWN_CLIENT,
): Promise<User> {
  const names = {
    firstName: changes.firstName === undefined ? undefined : cleanName(changes.firstName, "first_name"),
    lastName: changes.lastName === undefined ? undefined : cleanName(changes.lastName, "last_name"),
  };
  const user = await deps.users.updateNames(caller.user.id, names, new Date(deps.clock.now()), { type: "user.profile_updated", client });
  if (user === undefined) throw new AppError("session_revoked", "user no longer exists");
  await announceProfileChange(deps, user.id);
  return user;
}
