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
import type { CallContext, Handler } from "./context.js";
import type { Interceptor } from "./interceptor.js";

/** The authenticated caller of this call; undefined until (unless) authenticated. */
export const callerKey = createContextKey<Caller | undefined>(undefined, { description: "authenticated caller" });

const BEARER = /^Bearer +([^\s]+) *$/i;

/** Authenticates the callers of `methods`; every other call passes untouched (no token read, no header set). */
export function authenticateCallers(deps: CoreDeps, methods: Iterable<DescMethod>): Interceptor {
  const guarded: ReadonlySet<DescMethod> = new Set(methods);
  return (next) => {
    const authenticated: Handler = async (request, ctx) => {
      const match = BEARER.exec(ctx.header("authorization") ?? "");
      if (match === null) throw new AppError("not_authenticated");
      const caller = await authenticateAccess(deps, match[1]!);
      ctx.values.set(callerKey, caller);
      ctx.setResponseHeader("x-authenticated", "true");
      ctx.setResponseHeader("x-token-expires-at", String(caller.claims.exp));
      return next(request, ctx);
    };
    // Not async: an unguarded call (Verify) costs one Set lookup, no extra promise.
    return (request, ctx) => (guarded.has(ctx.method) ? authenticated(request, ctx) : next(request, ctx));
  };
}

/** The caller the interceptor authenticated. A method not declared to need one has
 * none, and is refused rather than served to nobody in particular. */
export function callerOf(ctx: CallContext): Caller {
  const caller = ctx.values.get(callerKey);
  if (caller === undefined) throw new AppError("not_authenticated");
  return caller;
}
