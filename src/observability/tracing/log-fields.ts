/** The fields that tie a log line to its trace (a pino mixin, set only while tracing). */
import { isSpanContextValid, trace } from "@opentelemetry/api";

export function traceLogFields(): Record<string, string> {
  const spanContext = trace.getActiveSpan()?.spanContext();
  if (spanContext === undefined || !isSpanContextValid(spanContext)) return {};
  return { trace_id: spanContext.traceId, span_id: spanContext.spanId };
}
