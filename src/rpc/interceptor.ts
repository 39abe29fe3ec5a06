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
import type { Handler } from "./context.js";

export type Interceptor = (next: Handler) => Handler;

/** The handler inside the interceptors, the first one outermost (as in connect-es).
 * Transports call this once per method, when they are built, not per call. */
export function intercept(handler: Handler, interceptors: readonly Interceptor[]): Handler {
  return interceptors.reduceRight<Handler>((next, interceptor) => interceptor(next), handler);
}
