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
