/**
 * The Connect protocol (and gRPC, gRPC-web) at `/identity.v1.<Service>/<Method>`,
 * served by connect-node's adapter. Each method passes the call to the same
 * transport the `/api` routes use (in-process handlers or the gRPC upstream), so
 * both surfaces build the same CallContext and report errors the same way.
 */
import type { DescMessage, DescMethodUnary, DescService } from "@bufbuild/protobuf";
import type { ConnectRouter, Transport } from "@connectrpc/connect";
import type { Locale } from "../../src/config.js";
import { localeOf } from "../../src/rpc/index.js";
import { CONNECT_REQUEST_HEADERS, RESPONSE_HEADERS, pickHeaders } from "./call-values.js";
import { toReplyError } from "./errors.js";

export function connectRoutes(services: readonly DescService[], transport: Transport, defaultLocale: Locale): (router: ConnectRouter) => void {
  return (router) => {
    for (const service of services) {
      for (const method of service.methods) {
        if (method.methodKind !== "unary") continue;
        const unary = method as DescMethodUnary<DescMessage, DescMessage>;
        router.rpc(unary, async (request, context) => {
          try {
            const response = await transport.unary(
              unary,
              context.signal,
              context.timeoutMs(),
              pickHeaders(context.requestHeader, CONNECT_REQUEST_HEADERS),
              request,
              context.values,
            );
            pickHeaders(response.header, RESPONSE_HEADERS).forEach((value, name) => context.responseHeader.set(name, value));
            return response.message;
          } catch (error) {
            throw toReplyError(error, localeOf(context.requestHeader.get("accept-language") ?? undefined, defaultLocale));
          }
        });
      }
    }
  };
}
