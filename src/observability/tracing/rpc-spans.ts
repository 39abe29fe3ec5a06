/**
 * One SERVER span per RPC, named `identity.v1.AuthService/Login`, as the outermost
 * interceptor, so every transport runs it and the call's log line is inside it.
 * Over grpc-js nothing is active yet and the caller's W3C `traceparent` metadata is
 * continued; over the bridge's in-process transport the route's span is active and
 * becomes the parent.
 *
 * A refusal (token_expired, otp_invalid, rate_limited, …) is the service doing its
 * job: the span records the code and reason but is not an error. Only a bug or an
 * unavailable dependency (INTERNAL, UNAVAILABLE) sets the ERROR status.
 */
import { context, propagation, SpanKind, SpanStatusCode, trace, type TextMapGetter, type Tracer } from "@opentelemetry/api";
import { Code } from "@connectrpc/connect";
import { ATTR_ERROR_TYPE, ATTR_RPC_METHOD, ATTR_RPC_STATUS_CODE, ATTR_RPC_SYSTEM_NAME, RPC_SYSTEM_NAME_VALUE_GRPC } from "@opentelemetry/semantic-conventions";
import { grpcCodeName, rpcNames, toPublicError, type CallContext, type Interceptor } from "../../rpc/index.js";

const CALL_METADATA: TextMapGetter<CallContext> = {
  get: (ctx, key) => ctx.header(key),
  // Only propagators that enumerate every header need this; W3C reads by name.
  keys: () => [],
};

/** Connect's Code has no member for success. */
const OK = "OK";

export function traceCalls(tracer: Tracer): Interceptor {
  const rpcOf = rpcNames();
  return (next) => (request, ctx) => {
    const name = rpcOf(ctx.method);
    const active = context.active();
    const parent = trace.getSpan(active) === undefined ? propagation.extract(active, ctx, CALL_METADATA) : active;
    const span = tracer.startSpan(name, { kind: SpanKind.SERVER, attributes: { [ATTR_RPC_SYSTEM_NAME]: RPC_SYSTEM_NAME_VALUE_GRPC, [ATTR_RPC_METHOD]: name } }, parent);
    return context.with(trace.setSpan(parent, span), async () => {
      try {
        const response = await next(request, ctx);
        span.setAttribute(ATTR_RPC_STATUS_CODE, OK);
        return response;
      } catch (error) {
        const e = toPublicError(error);
        span.setAttributes({ [ATTR_RPC_STATUS_CODE]: grpcCodeName(e.code), "identity.reason": e.reason });
        if (e.unexpected || e.code === Code.Unavailable) {
          span.setAttribute(ATTR_ERROR_TYPE, e.reason);
          span.setStatus({ code: SpanStatusCode.ERROR, message: e.reason });
          if (e.unexpected) span.recordException(error instanceof Error ? error : String(error));
        }
        throw error;
      } finally {
        span.end();
      }
    });
  };
}
