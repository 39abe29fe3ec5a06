/**
 * What a service implementation sees of a call, whatever carried it (grpc-js, the
 * Connect protocol, or the bridge's in-process transport). Transports build it;
 * implementations never touch transport objects.
 */
import type { DescMessage, DescMethodServerStreaming, DescMethodUnary, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { createContextKey, type ContextValues } from "@connectrpc/connect";
import type { Locale } from "../config.js";
import { requestClient, type RequestClient } from "../core/sessions/client.js";

export interface CallContext {
  /** The method called: interceptors choose their work by it. */
  readonly method: DescMethodUnary | DescMethodServerStreaming;
  /** A request header / metadata value by lower-case name. */
  header(name: string): string | undefined;
  /** Adds a response header / metadata entry. */
  setResponseHeader(name: string, value: string): void;
  /** This call's typed values (connect-es's ContextValues): the client IP
   * ({@link clientIpKey}), the caller once authenticated (`callerKey`), … */
  readonly values: ContextValues;
}

/** The client's address: the peer, or what a trusted proxy said it was. Each
 * transport provides it (grpc-js resolves it on first read: Verify never asks). */
export const clientIpKey = createContextKey<string>("", { description: "client IP" });

/** The client's User-Agent: the caller's own `user-agent`, or the one a trusted
 * proxy (a bridge) forwarded. Each transport provides it, as the IP. */
export const clientUserAgentKey = createContextKey<string | undefined>(undefined, { description: "client User-Agent" });

/** The subject of the certificate the caller presented (mTLS on the gRPC port), as
 * `CN=…, O=…`; undefined without one. Read only for debug-level log lines. */
export const clientCertificateKey = createContextKey<string | undefined>(undefined, { description: "client certificate subject" });

/** The client of the call, as sessions and the audit trail record it. */
export function clientOf(ctx: CallContext): RequestClient {
  return requestClient(ctx.values.get(clientIpKey), ctx.values.get(clientUserAgentKey));
}

/**
 * One method's implementation, as transports and interceptors hold it. A server-
 * streaming method resolves to the stream's messages (an AsyncIterable) once the
 * call is accepted, so the interceptors (key checks, the log line, the span) wrap
 * the opening of a stream, where it is refused or not; the stream's own end is the
 * transport's to report.
 */
export type Handler = (request: never, ctx: CallContext) => Promise<unknown>;

/** A service's descriptor and its handlers by method local name, as transports serve it. */
export interface ServiceImplementation {
  descriptor: DescService;
  handlers: Readonly<Record<string, Handler>>;
}

type UnaryHandler<I extends DescMessage, O extends DescMessage> = (request: MessageShape<I>, ctx: CallContext) => Promise<MessageInitShape<O>>;

/** A server-streaming method: the stream's messages, pulled one at a time (the
 * transport pulls the next when the last is on its way; cancelling the call ends the
 * iteration with `return`). */
type ServerStreamingHandler<I extends DescMessage, O extends DescMessage> = (request: MessageShape<I>, ctx: CallContext) => Promise<AsyncIterable<MessageInitShape<O>>>;

type HandlerOf<M extends GenServiceMethods[string]> = M["methodKind"] extends "server_streaming"
  ? ServerStreamingHandler<M["input"], M["output"]>
  : UnaryHandler<M["input"], M["output"]>;

/** A service implemented once, as plain async functions typed by its descriptor. */
export type ServiceHandlers<S> = S extends GenService<infer M extends GenServiceMethods> ? { [K in keyof M]: HandlerOf<M[K]> } : never;

/** Picks the response language from `accept-language` (fa or en). */
export function localeOf(acceptLanguage: string | undefined, fallback: Locale): Locale {
  if (acceptLanguage === undefined) return fallback;
  for (const part of acceptLanguage.split(",")) {
    const tag = part.trim().slice(0, 2).toLowerCase();
    if (tag === "en" || tag === "fa") return tag;
  }
  return fallback;
}
