/**
 * A span around one call the service makes (a statement, a Redis round trip, an
 * SMS), as a child of the span active at the time. With no span active (start-up
 * migrations, readiness probes, background work) the call runs untraced: such spans
 * would be roots of one-span traces, noise at every probe interval.
 */
import { SpanKind, SpanStatusCode, trace, type Attributes, type Tracer } from "@opentelemetry/api";

export type ChildSpan = <T>(name: string, attributes: Attributes, work: () => Promise<T>, kind?: SpanKind) => Promise<T>;

export function childSpans(tracer: Tracer): ChildSpan {
  return (name, attributes, work, kind = SpanKind.CLIENT) => {
    if (trace.getActiveSpan() === undefined) return work();
    return tracer.startActiveSpan(name, { kind, attributes }, async (span) => {
      try {
        return await work();
      } catch (error) {
        span.recordException(error instanceof Error ? error : String(error));
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw error;
      } finally {
        span.end();
      }
    });
  };
}
