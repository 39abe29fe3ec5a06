/**
 * One SERVER span per bridge request, named `POST /api/login/` after the route
 * pattern (never the raw path), continuing the caller's W3C `traceparent`. It is
 * the active span while the request is answered, so the in-process RPC's span is
 * its child and a gRPC upstream receives it (upstream-propagation.ts).
 */
import { context, propagation, SpanKind, SpanStatusCode, trace, type Attributes, type Tracer } from "@opentelemetry/api";
import { ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_HTTP_ROUTE } from "@opentelemetry/semantic-conventions";
import { UNMATCHED_ROUTE, type RequestObserver } from "../../lib/request-observer.js";

/** Methods named as they are; any other becomes `_OTHER`, so names stay a bounded set. */
const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

export function traceRequests(tracer: Tracer): RequestObserver {
  return (route, req, res, answer) => {
    const method = req.method !== undefined && KNOWN_METHODS.has(req.method) ? req.method : "_OTHER";
    const matched = route !== UNMATCHED_ROUTE;
    const attributes: Attributes = { [ATTR_HTTP_REQUEST_METHOD]: method, ...(matched && { [ATTR_HTTP_ROUTE]: route }) };
    const name = method === "_OTHER" ? "HTTP" : matched ? `${method} ${route}` : method;
    const parent = propagation.extract(context.active(), req.headers);
    const span = tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
    // "close" follows "finish", and comes alone when the client went away first.
    res.once("close", () => {
      span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, res.statusCode);
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    context.with(trace.setSpan(parent, span), answer);
  };
}
