/**
 * The fields that tie a log line to its trace (a pino mixin, set only while
 * tracing). Only for a sampled span: an unsampled trace is exported by nobody, and
 * its id would point at nothing.
 */
import { isSpanContextValid, trace, TraceFlags } from "@opentelemetry/api";

export function traceLogFields(): Record<string, string> {
  const spanContext = trace.getActiveSpan()?.spanContext();
  if (spanContext === undefined || !isSpanContextValid(spanContext) || (spanContext.traceFlags & TraceFlags.SAMPLED) === 0) return {};
  return { trace_id: spanContext.traceId, span_id: spanContext.spanId };
}
