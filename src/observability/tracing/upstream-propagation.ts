/** The bridge's calls to a gRPC upstream (SERVICE_ROLE=bridge) carry the active
 * trace as W3C `traceparent` metadata, so the upstream's RPC span is the route
 * span's child. */
import { context, propagation } from "@opentelemetry/api";
import type { Interceptor } from "@connectrpc/connect";

export const propagateToUpstream: Interceptor = (next) => (request) => {
  propagation.inject(context.active(), request.header, { set: (headers, key, value) => headers.set(key, value) });
  return next(request);
};
