/**
 * One generic adapter from protobuf-es service descriptors and plain handlers to
 * grpc-js: paths, (de)serialization, metadata and status all come from the
 * descriptor, so no method is wired by hand.
 */
import { fromBinary, toBinary, create, type DescService, type DescMessage } from "@bufbuild/protobuf";
import { Metadata, type sendUnaryData, type Server, type ServerUnaryCall, type ServiceDefinition, type UntypedServiceImplementation } from "@grpc/grpc-js";
import type { Locale } from "../config.js";
import { AppError } from "../core/errors.js";
import { ipOfGrpcPeer } from "../lib/client-ip.js";
import type { CallContext } from "../rpc/context.js";
import { localeOf } from "../rpc/context.js";
import { grpcStatusOf } from "./status.js";

type Handler = (request: never, ctx: CallContext) => Promise<unknown>;

export interface AdapterOptions {
  defaultLocale: Locale;
  clientIp: (peer: string, forwardedFor: string | undefined) => string;
}

const identity = (value: Buffer) => value;

export function addService(server: Server, service: DescService, handlers: Record<string, Handler>, options: AdapterOptions): void {
  const definition: Record<string, ServiceDefinition[string]> = {};
  const implementation: UntypedServiceImplementation = {};
  for (const method of service.methods) {
    if (method.methodKind !== "unary") throw new Error(`${service.typeName}.${method.name}: only unary methods are supported`);
    const handler = handlers[method.localName];
    if (handler === undefined) throw new Error(`${service.typeName}.${method.name} has no handler`);
    const output: DescMessage = method.output;
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
      const header = (name: string): string | undefined => {
        const values = call.metadata.get(name);
        return values.length === 0 ? undefined : String(values[0]);
      };
      let responseHeaders: Metadata | undefined;
      let clientIp: string | undefined;
      const ctx: CallContext = {
        header,
        // Resolved when asked (only the one-time-code calls do), not on every Verify.
        // getPeer() is `address:port`; limits and trusted proxies go by the address.
        get clientIp() {
          return (clientIp ??= options.clientIp(ipOfGrpcPeer(call.getPeer()), header("x-forwarded-for")));
        },
        setResponseHeader(name, value) {
          (responseHeaders ??= new Metadata()).set(name, value);
        },
      };
      // The language matters only to an error's message.
      const fail = (error: unknown) => callback(grpcStatusOf(error, localeOf(header("accept-language"), options.defaultLocale), new Metadata()));
      let request: unknown;
      try {
        request = fromBinary(method.input, call.request);
      } catch {
        fail(new AppError("validation_error", "malformed request message"));
        return;
      }
      handler(request as never, ctx).then(
        (response) => {
          if (responseHeaders !== undefined) call.sendMetadata(responseHeaders);
          callback(null, create(output, response as never));
        },
        (error: unknown) => {
          if (responseHeaders !== undefined) call.sendMetadata(responseHeaders);
          fail(error);
        },
      );
    };
  }
  server.addService(definition, implementation);
}
