/**
 * The caller's authentication, as an interceptor: for the methods that declare they
 * need a caller, `authorization: Bearer <access token>` is validated (token and
 * session) before the handler runs, the Caller goes into the call's values, and the
 * response says so (`x-authenticated`, `x-token-expires-at`).
 */
import type { DescMethod } from "@bufbuild/protobuf";
import { createContextKey } from "@connectrpc/connect";
import type { CoreDeps } from "../core/deps.js";
import { AppError } from "../core/errors.js";
import { authenticateAccess, type Caller } from "../core/tokens/authenticate.js";
import type { CallContext } from "./context.js";
import { beforeMethods, type Interceptor } from "./interceptor.js";

/** The authenticated caller of this call; undefined until (unless) authenticated. */
export const callerKey = createContextKey<Caller | undefined>(undefined, { description: "authenticated caller" });

const BEARER = /^Bearer +([^\s]+) *$/i;

/** Authenticates the callers of `methods`; every other call passes untouched (no token read, no header set). */
export function authenticateCallers(deps: CoreDeps, methods: Iterable<DescMethod>): Interceptor {
  return beforeMethods(methods, async (ctx) => void (await authenticateBearer(deps, ctx)));
}

/** The caller of `authorization: Bearer <access token>` (token and session checked),
 * kept in the call's values, and the response says so. */
export async function authenticateBearer(deps: CoreDeps, ctx: CallContext): Promise<Caller> {
  const match = BEARER.exec(ctx.header("authorization") ?? "");
  if (match === null) throw new AppError("not_authenticated");
  const caller = await authenticateAccess(deps, match[1]!);
  ctx.values.set(callerKey, caller);
  ctx.setResponseHeader("x-authenticated", "true");
  ctx.setResponseHeader("x-token-expires-at", String(caller.claims.exp));
  return caller;
}

/** The caller the interceptor authenticated. A method not declared to need one has
 * none, and is refused rather than served to nobody in particular. */
export function callerOf(ctx: CallContext): Caller {
  const caller = ctx.values.get(callerKey);
  if (caller === undefined) throw new AppError("not_authenticated");
  return caller;
}
