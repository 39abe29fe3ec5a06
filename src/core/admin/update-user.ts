/**
 * Staff activate or deactivate a user, or grant or take staff. Deactivation ends
 * every session at once, exactly as logout-all does (the cache first), and the
 * change, the sessions' end and its event are one statement: a failed change leaves
 * neither change nor event.
 */
import { AppError } from "../errors.js";
import type { CoreDeps } from "../deps.js";
import type { Actor, AuditNote } from "../ports/audit.js";
import type { ClientInfo } from "../ports/sessions.js";
import type { AdminUserView, UserFlagChanges } from "../ports/users.js";
import { endingEverySession } from "../sessions/revoke.js";
import { requiredUserId } from "../users/id.js";
import { announceProfileChange } from "../users/profile.js";
import { getUser } from "./get-user.js";

/** Changes only the flags given; with none, answers the user unchanged (and records nothing). */
export async function updateUser(deps: CoreDeps, actor: Actor, userId: string, changes: UserFlagChanges, client: ClientInfo | null): Promise<AdminUserView> {
  const id = requiredUserId(userId, "id");
  const details: Record<string, boolean> = {};
  if (changes.isActive !== undefined) details.is_active = changes.isActive;
  if (changes.isStaff !== undefined) details.is_staff = changes.isStaff;
  if (Object.keys(details).length === 0) return getUser(deps, id);
  // A staff member cannot lock themselves out, or leave no one able to undo it.
  if (actor.kind === "staff" && actor.id.toLowerCase() === id) {
    throw new AppError("cannot_modify_self", "staff cannot change their own active or staff status");
  }
  if ((await deps.users.findById(id)) === undefined) throw new AppError("not_found", "no user has that id");

  const note: AuditNote = { type: "admin.user_updated", actor, client, details };
  const flags = { isActive: changes.isActive, isStaff: changes.isStaff };
  const change = (now: Date) => deps.users.updateFlags(id, flags, now, note);
  const result = changes.isActive === false ? await endingEverySession(deps, id, change) : await change(new Date(deps.clock.now()));
  // Users are never deleted, so only a store that lost the row answers nothing here.
  if (result === undefined) throw new AppError("not_found", "no user has that id");
  deps.metrics.sessionsRevoked("deactivated", result.revoked);
  // The cache may hold them as inactive (read while they were): that gives way now.
  if (changes.isActive === true) await deps.liveness.markUserActive(id, result.at?.getTime() ?? 0);
  // Copies of the profile elsewhere hold the old flags. Best effort: the change is
  // committed, and while Redis cannot carry the announcement no copy is trusted.
  await announceProfileChange(deps, id).catch((error: unknown) => deps.log.warn({ err: String(error) }, "profile change not announced"));
  return result.view;
}
