/**
 * A Connect `Transport` that calls the service implementations in this process:
 * the request message is handed to the handler as it is (no serialization), the
 * handler sees the same CallContext a gRPC call would give it, and its errors come
 * back as the ConnectError a remote server would have sent.
 */
import { create, isMessage, type DescMethodUnary, type DescMessage, type DescService, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type ContextValues, type Transport } from "@connectrpc/connect";
import type { UnaryResponse } from "@connectrpc/connect";
import type { Locale } from "../../src/config.js";
import { localeOf, type CallContext } from "../../src/rpc/context.js";
import { clientIpKey } from "./call-values.js";
import { toConnectError } from "./errors.js";

export type Handler = (request: never, ctx: CallContext) => Promise<unknown>;

export interface LocalService {
  descriptor: DescService;
  handlers: Readonly<Record<string, Handler>>;
}

export function createInProcessTransport(services: readonly LocalService[], defaultLocale: Locale): Transport {
  const handlers = new Map<string, Handler>();
  for (const { descriptor, handlers: impl } of services) {
    for (const method of descriptor.methods) {
      const handler = impl[method.localName];
      if (handler !== undefined) handlers.set(`${descriptor.typeName}/${method.name}`, handler);
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
        header: (name) => requestHeader.get(name) ?? undefined,
        clientIp: contextValues?.get(clientIpKey) ?? "",
        setResponseHeader: (name, value) => responseHeader.set(name, value),
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
