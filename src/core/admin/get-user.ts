import { AppError } from "../errors.js";
import type { CoreDeps } from "../deps.js";
import type { AdminUserView } from "../ports/users.js";
import { requiredUserId } from "../users/id.js";

export type { AdminUserView } from "../ports/users.js";

/** One user as staff see them, with their live sessions; `not_found` for an unknown id. */
export async function getUser(deps: Pick<CoreDeps, "users" | "clock">, userId: string): Promise<AdminUserView> {
  const id = requiredUserId(userId, "id");
  const view = await deps.users.findView(id, new Date(deps.clock.now()));
  if (view === undefined) throw new AppError("not_found", "no user has that id");
  return view;
}
