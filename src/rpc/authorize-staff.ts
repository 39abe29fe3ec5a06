/**
 * Who may call AdminService, as an interceptor: metadata `x-api-key` with a key of
 * the admin scope, else the Bearer of an active staff user (read from the stores on
 * every call). The actor the audit trail records goes into the call's values.
 */
import type { DescMethod } from "@bufbuild/protobuf";
import { createContextKey } from "@connectrpc/connect";
import { serviceActor, staffActor } from "../core/admin/authority.js";
import type { CoreDeps } from "../core/deps.js";
import { AppError } from "../core/errors.js";
import type { Actor } from "../core/ports/audit.js";
import { authenticateBearer } from "./authenticate.js";
import type { CallContext } from "./context.js";
import { beforeMethods, type Interceptor } from "./interceptor.js";

/** Who is making this staff call; undefined until (unless) authorized. */
export const actorKey = createContextKey<Actor | undefined>(undefined, { description: "staff actor" });

/** Authorizes the callers of `methods`: no credentials at all is `not_authenticated`,
 * a bad token its token reason, anyone but staff or an admin key `permission_denied`. */
export function authorizeStaff(deps: CoreDeps, methods: Iterable<DescMethod>): Interceptor {
  return beforeMethods(methods, async (ctx) => {
    const key = ctx.header("x-api-key");
    ctx.values.set(actorKey, key !== undefined ? serviceActor(deps, key) : await staffActor(deps, await authenticateBearer(deps, ctx)));
  });
}

/** The actor the interceptor authorized; a method not guarded by it has none. */
export function actorOf(ctx: CallContext): Actor {
  const actor = ctx.values.get(actorKey);
  if (actor === undefined) throw new AppError("not_authenticated");
  return actor;
}
