import { AppError } from "../errors.js";
import type { CoreDeps } from "../deps.js";
import type { Actor } from "../ports/audit.js";
import type { ClientInfo } from "../ports/sessions.js";
import { revokeAllSessionsOf } from "../sessions/revoke.js";
import { requiredUserId } from "../users/id.js";

/** Staff end every session of a user, as the user's own logout-all would; returns how many were live. */
export async function revokeUserSessions(deps: CoreDeps, actor: Actor, userId: string, client: ClientInfo | null): Promise<number> {
  const id = requiredUserId(userId, "id");
  if ((await deps.users.findById(id)) === undefined) throw new AppError("not_found", "no user has that id");
  return revokeAllSessionsOf(deps, id, "admin", { type: "admin.sessions_revoked", actor, client });
}
