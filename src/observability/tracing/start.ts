/**
 * Tracing, started before the service is built (main.ts imports this module only
 * when config.tracing, so nothing of OpenTelemetry is loaded otherwise).
 *
 * NodeSDK reads the standard variables itself: OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT,
 * _PROTOCOL (http/protobuf by default, http/json, grpc), _HEADERS, _TIMEOUT,
 * OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER(_ARG),
 * OTEL_PROPAGATORS (W3C tracecontext and baggage by default), OTEL_BSP_*.
 *
 * No instrumentation is registered: `npm start` runs an esbuild bundle, whose
 * pg, ioredis, grpc-js and http no require hook can patch, and the spans are made at
 * the service's own seams instead (the RPC interceptors, the bridge's request
 * observer, the store ports, the SMS provider). Metrics are prom-client's, on
 * METRICS_PORT, and logs go to stdout, so no metrics or logs exporter is started.
 */
import { trace } from "@opentelemetry/api";
import { NodeSDK, resources } from "@opentelemetry/sdk-node";
import { ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";
import { childSpans } from "./child-span.js";
import { traceDatabase } from "./database-spans.js";
import { traceLogFields } from "./log-fields.js";
import { traceKeyValue } from "./redis-spans.js";
import { traceRequests } from "./route-spans.js";
import { traceCalls } from "./rpc-spans.js";
import { traceSmsSender } from "./sms-spans.js";
import type { Tracing } from "./tracing.js";
import { propagateToUpstream } from "./upstream-propagation.js";

/** service.name when neither OTEL_SERVICE_NAME nor OTEL_RESOURCE_ATTRIBUTES names one
 * (the environment's resource is merged over this one). */
const DEFAULT_SERVICE_NAME = "identity";

export function startTracing(): Tracing {
  const sdk = new NodeSDK({
    resource: resources.defaultResource().merge(resources.resourceFromAttributes({ [ATTR_SERVICE_NAME]: DEFAULT_SERVICE_NAME })),
    instrumentations: [],
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  const tracer = trace.getTracer("identity");
  const span = childSpans(tracer);
  return {
    calls: traceCalls(tracer),
    requests: traceRequests(tracer),
    upstream: propagateToUpstream,
    database: (db) => traceDatabase(db, span),
    keyValue: (kv) => traceKeyValue(kv, span),
    smsSender: (sender) => traceSmsSender(sender, span),
    logFields: traceLogFields,
    shutdown: () => sdk.shutdown(),
  };
}
