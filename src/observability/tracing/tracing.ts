/**
 * What the service's seams receive from tracing once it is started (start.ts): the
 * span makers for RPCs, routes and store calls, the log fields, and the flush. Types
 * only, so that main.ts and app.ts can name them without loading OpenTelemetry.
 */
import type { Interceptor as ConnectInterceptor } from "@connectrpc/connect";
import type { RequestObserver } from "../../lib/request-observer.js";
import type { KeyValueStore } from "../../core/ports/key-value.js";
import type { Interceptor } from "../../rpc/interceptor.js";
import type { SmsSender } from "../../sms/sender.js";
import type { Database } from "../../store/postgres/db.js";

export interface Tracing {
  /** The first RPC interceptor: one SERVER span per call. */
  readonly calls: Interceptor;
  /** The bridge's request observer: one SERVER span per route, active while answering. */
  readonly requests: RequestObserver;
  /** Passes the active trace to a gRPC upstream (`SERVICE_ROLE=bridge`) as `traceparent`. */
  readonly upstream: ConnectInterceptor;
  /** PostgreSQL (or PGlite) with a CLIENT span per statement. */
  database(db: Database): Database;
  /** Redis with a CLIENT span per round trip. */
  keyValue(kv: KeyValueStore): KeyValueStore;
  /** The SMS provider with a CLIENT span per message. */
  smsSender(sender: SmsSender): SmsSender;
  /** A pino mixin: `trace_id` and `span_id` of the active span, if any. */
  logFields(): Record<string, string>;
  /** Exports the spans still buffered, then stops. */
  shutdown(): Promise<void>;
}
