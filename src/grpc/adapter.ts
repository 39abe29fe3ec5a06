/**
 * One generic adapter from protobuf-es service descriptors and plain handlers to
 * grpc-js: paths, (de)serialization, metadata and status all come from the
 * descriptor, so no method is wired by hand. Each method runs inside the
 * interceptors, composed once here.
 */
import type { PeerCertificate } from "node:tls";
import { fromBinary, toBinary, create, type DescService, type DescMessage, type DescMethodUnary } from "@bufbuild/protobuf";
import type { ContextKey, ContextValues } from "@connectrpc/connect";
import { Metadata, status as Status, type sendUnaryData, type Server, type ServerUnaryCall, type ServiceDefinition, type UntypedServiceImplementation } from "@grpc/grpc-js";
import type { Locale } from "../config.js";
import { AppError } from "../core/errors.js";
import { ipOfGrpcPeer, type CallClient } from "../lib/client-ip.js";
import type { ServiceMetrics } from "../observability/metrics.js";
import { clientCertificateKey, clientIpKey, clientUserAgentKey, grpcCodeName, intercept, localeOf, type CallContext, type Handler, type Interceptor } from "../rpc/index.js";
import { grpcStatusOf } from "./status.js";

export interface AdapterOptions {
  defaultLocale: Locale;
  /** The call's client from its peer address and metadata (createCallClientResolver). */
  client: (peer: string, header: (name: string) => string | undefined) => CallClient;
  /** Run around every method, the first outermost. */
  interceptors?: readonly Interceptor[];
  /** identity_grpc_* series; absent (METRICS_PORT=off), calls are neither timed nor counted. */
  metrics?: Pick<ServiceMetrics, "grpcMethod">;
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
    readonly method: DescMethodUnary,
    private readonly call: ServerUnaryCall<Buffer, unknown>,
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
  for (const described of service.methods) {
    if (described.methodKind !== "unary") throw new Error(`${service.typeName}.${described.name}: only unary methods are supported`);
    const method = described as DescMethodUnary;
    const handler = handlers[method.localName];
    if (handler === undefined) throw new Error(`${service.typeName}.${method.name} has no handler`);
    const run = intercept(handler, options.interceptors ?? []);
    const output: DescMessage = method.output;
    // Made here, once per method: a counted call only looks its status code up.
    const record = options.metrics?.grpcMethod(service.typeName, method.name);
    definition[method.localName] = {
      path: `/${service.typeName}/${method.name}`,
      requestStream: false,
      responseStream: false,
      // Requests are parsed in the handler, so a malformed one is INVALID_ARGUMENT
      // with our message rather than grpc-js's INTERNAL with the parser's.
      requestDeserialize: identity,
      requestSerialize: identity,
      responseSerialize: (message: Parameters<typeof toBinary>[1]) => Buffer.from(toBinary(output, message)),
      responseDeserialize: identity,
    };
    implementation[method.localName] = (call: ServerUnaryCall<Buffer, unknown>, callback: sendUnaryData<unknown>) => {
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
      let request: unknown;
      try {
        request = fromBinary(method.input, call.request);
      } catch {
        fail(new AppError("validation_error", "malformed request message"));
        return;
      }
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
  server.addService(definition, implementation);
}

