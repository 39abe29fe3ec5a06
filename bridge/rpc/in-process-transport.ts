/**
 * A Connect `Transport` that calls the service implementations in this process:
 * the request message is handed to the handler as it is (no serialization), inside
 * the same interceptors a gRPC call runs through, with the call's context values
 * (the client IP the bridge resolved); its errors come back as the ConnectError a
 * remote server would have sent.
 */
import { create, isMessage, type DescMethodUnary, type DescMessage, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues, type ContextValues, type Transport, type UnaryResponse } from "@connectrpc/connect";
import type { Locale } from "../../src/config.js";
import { intercept, localeOf, type CallContext, type Handler, type Interceptor, type ServiceImplementation } from "../../src/rpc/index.js";
import { toConnectError } from "./errors.js";

export function createInProcessTransport(services: readonly ServiceImplementation[], defaultLocale: Locale, interceptors: readonly Interceptor[] = []): Transport {
  const handlers = new Map<string, Handler>();
  for (const { descriptor, handlers: impl } of services) {
    for (const method of descriptor.methods) {
      const handler = impl[method.localName];
      if (handler !== undefined) handlers.set(`${descriptor.typeName}/${method.name}`, intercept(handler, interceptors));
    }
  }

  return {
    async unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      _signal: AbortSignal | undefined,
      _timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: MessageInitShape<I>,
      contextValues?: ContextValues,
    ): Promise<UnaryResponse<I, O>> {
      const handler = handlers.get(`${method.parent.typeName}/${method.name}`);
      if (handler === undefined) throw new ConnectError(`${method.parent.typeName}/${method.name} is not served`, Code.Unimplemented);
      const requestHeader = new Headers(header);
      const responseHeader = new Headers();
      const ctx: CallContext = {
        method,
        header: (name) => requestHeader.get(name) ?? undefined,
        setResponseHeader: (name, value) => responseHeader.set(name, value),
        values: contextValues ?? createContextValues(),
      };
      const request = isMessage(input, method.input) ? input : create(method.input, input);
      let output: unknown;
      try {
        output = await handler(request as never, ctx);
      } catch (error) {
        const e = toConnectError(error, localeOf(ctx.header("accept-language"), defaultLocale));
        responseHeader.forEach((value, name) => e.metadata.set(name, value));
        throw e;
      }
      const message = isMessage(output, method.output) ? output : create(method.output, output as MessageInitShape<O>);
      return { stream: false, service: method.parent, method, header: responseHeader, trailer: new Headers(), message: message as MessageShape<O> };
    },

    stream() {
      return Promise.reject(new ConnectError("streaming calls are not served in-process", Code.Unimplemented));
    },
  };
}
