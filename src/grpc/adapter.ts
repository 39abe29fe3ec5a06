/**
 * One generic adapter from protobuf-es service descriptors and plain handlers to
 * grpc-js: paths, (de)serialization, metadata and status all come from the
 * descriptor, so no method is wired by hand. Each method runs inside the
 * interceptors, composed once here. Unary and server-streaming methods are served.
 */
import type { PeerCertificate } from "node:tls";
import { fromBinary, toBinary, create, type DescService, type DescMessage, type DescMethodServerStreaming, type DescMethodUnary } from "@bufbuild/protobuf";
import type { ContextKey, ContextValues } from "@connectrpc/connect";
import {
  Metadata,
  status as Status,
  type sendUnaryData,
  type Server,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
  type StatusObject,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import type { Locale } from "../config.js";
import { AppError } from "../core/errors.js";
import { ipOfGrpcPeer, type CallClient } from "../lib/client-ip.js";
import type { CallRecorder, ServiceMetrics } from "../observability/metrics.js";
import { clientCertificateKey, clientIpKey, clientUserAgentKey, grpcCodeName, intercept, localeOf, StreamEnd, type CallContext, type Handler, type Interceptor } from "../rpc/index.js";
import { grpcStatusOf } from "./status.js";
import type { OpenStreams } from "./open-streams.js";

export interface AdapterOptions {
  defaultLocale: Locale;
  /** The call's client from its peer address and metadata (createCallClientResolver). */
  client: (peer: string, header: (name: string) => string | undefined) => CallClient;
  /** Run around every method, the first outermost. */
  interceptors?: readonly Interceptor[];
  /** identity_grpc_* series; absent (METRICS_PORT=off), calls are neither timed nor counted. */
  metrics?: Pick<ServiceMetrics, "grpcMethod">;
  /** Where server streams register, so that shutdown can end them. */
  streams?: OpenStreams;
}

const identity = (value: Buffer) => value;

/**
 * One grpc-js call as the services see it, and its context values too. Methods
 * sit on the prototype, the values' storage is made on the first `set`, and the
 * client (IP and User-Agent) is resolved on its first read (the calls that start
 * or change something ask), so a Verify costs one object here.
 */
class GrpcCallContext implements CallContext, ContextValues {
  responseHeaders: Metadata | undefined;
  private own: Record<symbol, unknown> | undefined;

  constructor(
    readonly method: DescMethodUnary | DescMethodServerStreaming,
    private readonly call: ServerUnaryCall<Buffer, unknown> | ServerWritableStream<Buffer, unknown>,
    private readonly options: AdapterOptions,
  ) {}

  get values(): ContextValues {
    return this;
  }

  header(name: string): string | undefined {
    const values = this.call.metadata.get(name);
    return values.length === 0 ? undefined : String(values[0]);
  }

  setResponseHeader(name: string, value: string): void {
    (this.responseHeaders ??= new Metadata()).set(name, value);
  }

  get<T>(key: ContextKey<T>): T {
    if (this.own !== undefined && key.id in this.own) return this.own[key.id] as T;
    if (key === clientIpKey || key === clientUserAgentKey) {
      // getPeer() is `address:port`; limits and trusted proxies go by the address.
      const client = this.options.client(ipOfGrpcPeer(this.call.getPeer()), (name) => this.header(name));
      this.set(clientIpKey, client.ip).set(clientUserAgentKey, client.userAgent);
      return (key === clientIpKey ? client.ip : client.userAgent) as T;
    }
    if (key === clientCertificateKey) return subjectOf(this.call.getAuthContext().sslPeerCertificate) as T;
    return key.defaultValue;
  }

  set<T>(key: ContextKey<T>, value: T): this {
    (this.own ??= {})[key.id] = value;
    return this;
  }

  delete(key: ContextKey<unknown>): this {
    if (this.own !== undefined) delete this.own[key.id];
    return this;
  }
}

/** `CN=…, O=…` of a peer certificate; undefined when the caller presented none. */
function subjectOf(certificate: PeerCertificate | undefined): string | undefined {
  // Node gives an empty object, not undefined, when there is no certificate.
  if (certificate?.subject === undefined) return undefined;
  return Object.entries(certificate.subject)
    .map(([name, value]) => `${name}=${Array.isArray(value) ? value.join("+") : String(value)}`)
    .join(", ");
}

export function addService(server: Server, service: DescService, handlers: Readonly<Record<string, Handler>>, options: AdapterOptions): void {
  const definition: Record<string, ServiceDefinition[string]> = {};
  const implementation: UntypedServiceImplementation = {};
  for (const method of service.methods) {
    if (method.methodKind !== "unary" && method.methodKind !== "server_streaming") {
      throw new Error(`${service.typeName}.${method.name}: only unary and server-streaming methods are supported`);
    }
    const handler = handlers[method.localName];
    if (handler === undefined) throw new Error(`${service.typeName}.${method.name} has no handler`);
    const run = intercept(handler, options.interceptors ?? []);
    const output: DescMessage = method.output;
    // Made here, once per method: a counted call only looks its status code up.
    const record = options.metrics?.grpcMethod(service.typeName, method.name);
    definition[method.localName] = {
      path: `/${service.typeName}/${method.name}`,
      requestStream: false,
      responseStream: method.methodKind === "server_streaming",
      // Requests are parsed in the handler, so a malformed one is INVALID_ARGUMENT
      // with our message rather than grpc-js's INTERNAL with the parser's.
      requestDeserialize: identity,
      requestSerialize: identity,
      responseSerialize: (message: Parameters<typeof toBinary>[1]) => Buffer.from(toBinary(output, message)),
      responseDeserialize: identity,
    };
    implementation[method.localName] =
      method.methodKind === "unary"
        ? unaryCall(method as DescMethodUnary, run, options, record)
        : serverStreamingCall(method as DescMethodServerStreaming, run, options, record);
  }
  server.addService(definition, implementation);
}

/** The request message of a call, or undefined when it does not parse. */
function parsed(method: DescMethodUnary | DescMethodServerStreaming, request: Buffer): unknown {
  try {
    return fromBinary(method.input, request);
  } catch {
    return undefined;
  }
}

const MALFORMED = () => new AppError("validation_error", "malformed request message");

function unaryCall(method: DescMethodUnary, run: Handler, options: AdapterOptions, record: CallRecorder | undefined) {
  const output: DescMessage = method.output;
  return (call: ServerUnaryCall<Buffer, unknown>, callback: sendUnaryData<unknown>) => {
    const started = record === undefined ? 0 : performance.now();
    // Counted where the status is decided: answers, refusals and malformed requests alike.
    const answer: sendUnaryData<unknown> =
      record === undefined
        ? callback
        : (error, value) => {
            record(grpcCodeName(error?.code ?? Status.OK), (performance.now() - started) / 1000);
            callback(error, value);
          };
    const ctx = new GrpcCallContext(method, call, options);
    // The language matters only to an error's message.
    const fail = (error: unknown) => answer(grpcStatusOf(error, localeOf(ctx.header("accept-language"), options.defaultLocale), new Metadata()));
    const request = parsed(method, call.request);
    if (request === undefined) return fail(MALFORMED());
    run(request as never, ctx).then(
      (response) => {
        if (ctx.responseHeaders !== undefined) call.sendMetadata(ctx.responseHeaders);
        answer(null, create(output, response as never));
      },
      (error: unknown) => {
        if (ctx.responseHeaders !== undefined) call.sendMetadata(ctx.responseHeaders);
        fail(error);
      },
    );
  };
}

/**
 * A server stream: the handler (inside the interceptors) accepts or refuses the
 * call; then its messages are pulled one at a time and written, the next pulled only
 * once grpc-js has room for it ('drain'), so a slow reader never makes the stream
 * buffer more than grpc-js's own few messages: a source that must not wait (a feed
 * of live events) keeps its own bounded backlog and ends the stream when that
 * overflows (StreamEnd). The client cancelling, or the server shutting down, ends
 * the iteration (`return`). identity_grpc_* count the stream once, at its end, with
 * its status and its whole duration.
 */
function serverStreamingCall(method: DescMethodServerStreaming, run: Handler, options: AdapterOptions, record: CallRecorder | undefined) {
  const output: DescMessage = method.output;
  return (call: ServerWritableStream<Buffer, unknown>) => {
    const started = performance.now();
    const ctx = new GrpcCallContext(method, call, options);
    const locale = () => localeOf(ctx.header("accept-language"), options.defaultLocale);
    let ended = false;
    let stop: (status: Partial<StatusObject> | undefined) => void = () => {};
    /** Resolves with the status to end with (undefined: the client is gone) when the
     * stream must stop early. */
    const stopped = new Promise<Partial<StatusObject> | undefined>((resolve) => (stop = resolve));
    const untrack = options.streams?.add((code, message) => stop({ code, details: message, metadata: new Metadata() }));
    call.once("cancelled", () => stop(undefined));

    const end = (status: Partial<StatusObject> | undefined) => {
      if (ended) return;
      ended = true;
      untrack?.();
      const code = status?.code ?? Status.CANCELLED;
      record?.(grpcCodeName(code), (performance.now() - started) / 1000);
      if (status === undefined || call.cancelled) return;
      if (code === Status.OK) call.end();
      // grpc-js sends the status once every message written before it is on its way.
      else call.emit("error", { code, details: status.details, metadata: status.metadata ?? new Metadata() });
    };
    const statusOf = (error: unknown): Partial<StatusObject> => {
      if (error instanceof StreamEnd) {
        const trailers = new Metadata();
        for (const [name, value] of Object.entries(error.trailers)) trailers.set(name, value);
        return { code: error.code as number, details: error.message, metadata: trailers };
      }
      return grpcStatusOf(error, locale(), new Metadata());
    };

    const request = parsed(method, call.request);
    if (request === undefined) return end(statusOf(MALFORMED()));
    run(request as never, ctx).then(
      async (source) => {
        if (ctx.responseHeaders !== undefined) call.sendMetadata(ctx.responseHeaders);
        end(await pump(source as AsyncIterable<unknown>, call, output, stopped).catch(statusOf));
      },
      (error: unknown) => {
        if (ctx.responseHeaders !== undefined) call.sendMetadata(ctx.responseHeaders);
        end(statusOf(error));
      },
    );
  };
}

/** Writes the source's messages until it ends (OK), fails (thrown), or `stopped`
 * settles first (its status); the source is told to stop (`return`) in every case
 * but its own end. */
async function pump(
  source: AsyncIterable<unknown>,
  call: ServerWritableStream<Buffer, unknown>,
  output: DescMessage,
  stopped: Promise<Partial<StatusObject> | undefined>,
): Promise<Partial<StatusObject> | undefined> {
  const iterator = source[Symbol.asyncIterator]();
  const early = stopped.then((status) => ({ stopped: status }));
  let done = false;
  try {
    for (;;) {
      const next = await Promise.race([iterator.next().then((result) => ({ result })), early]);
      if ("stopped" in next) return next.stopped;
      if (next.result.done === true) {
        done = true;
        return { code: Status.OK };
      }
      if (call.write(create(output, next.result.value as never))) continue;
      let drained: () => void = () => {};
      const drain = new Promise<void>((resolve) => call.once("drain", (drained = resolve)));
      const waited = await Promise.race([drain.then(() => undefined), early]);
      call.off("drain", drained);
      if (waited !== undefined) return waited.stopped;
    }
  } catch (error) {
    done = true;
    throw error;
  } finally {
    if (!done) void iterator.return?.()?.catch(() => {});
  }
}
