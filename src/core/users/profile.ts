import { AppError } from "../errors.js";
import type { CoreDeps } from "../deps.js";
import type { Caller } from "../tokens/authenticate.js";
import type { UserRecord } from "../../store/postgres/users.js";
import { cleanName } from "./names.js";

export async function getProfile(deps: CoreDeps, caller: Caller): Promise<UserRecord> {
  const user = await deps.users.findById(caller.user.id);
  if (user === undefined) throw new AppError("session_revoked", "user no longer exists");
  return user;
}

/** Changes only the names given. Tokens already issued keep the old names until refreshed. */
export async function updateProfile(deps: CoreDeps, caller: Caller, changes: { firstName?: string | undefined; lastName?: string | undefined }): Promise<UserRecord> {
  const names = {
    first_name: changes.firstName === undefined ? undefined : cleanName(changes.firstName, "first_name"),
    last_name: changes.lastName === undefined ? undefined : cleanName(changes.lastName, "last_name"),
  };
  const user = await deps.users.updateNames(caller.user.id, names);
  if (user === undefined) throw new AppError("session_revoked", "user no longer exists");
  return user;
}
