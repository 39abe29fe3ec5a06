/**
 * Work around every call that is no method's own (a log line, the caller's
 * authentication; later metrics, traces, admin checks), written once as an
 * interceptor and run by every transport: grpc-js (src/grpc/adapter.ts) and the
 * bridge's in-process transport.
 *
 * The shape is connect-es's, `(next) => async (request, ctx) => …`, with per-call
 * data in typed context values (`createContextKey`). It wraps our handlers rather
 * than connect's `UnaryRequest`, which would make grpc-js build a `Headers`, an
 * `AbortSignal` and a request object on every call, Verify included.
 */
import type { DescMethod } from "@bufbuild/protobuf";
import type { CallContext, Handler } from "./context.js";

export type Interceptor = (next: Handler) => Handler;

/** The handler inside the interceptors, the first one outermost (as in connect-es).
 * Transports call this once per method, when they are built, not per call. */
export function intercept(handler: Handler, interceptors: readonly Interceptor[]): Handler {
  return interceptors.reduceRight<Handler>((next, interceptor) => interceptor(next), handler);
}

/** An interceptor that runs `before` ahead of the calls of `methods` only; every other
 * call passes untouched. Not async: an unguarded call (Verify) costs one Set lookup,
 * no extra promise. */
export function beforeMethods(methods: Iterable<DescMethod>, before: (ctx: CallContext) => Promise<void>): Interceptor {
  const guarded: ReadonlySet<DescMethod> = new Set(methods);
  return (next) => {
    const checked: Handler = async (request, ctx) => {
      await before(ctx);
      return next(request, ctx);
    };
    return (request, ctx) => (guarded.has(ctx.method) ? checked(request, ctx) : next(request, ctx));
  };
}
