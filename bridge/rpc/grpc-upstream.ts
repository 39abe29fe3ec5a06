/**
 * The remote side of SERVICE_ROLE=bridge: Connect's gRPC transport over HTTP/2 to
 * GRPC_UPSTREAM. The client IP the bridge resolved goes along as
 * `x-forwarded-for`, and the client's User-Agent as `x-forwarded-user-agent` (the
 * request's own `user-agent` is the bridge's), which the gRPC instance believes
 * only from addresses in its TRUSTED_PROXIES: list the bridge there, or every
 * sign-up counts against the bridge's own address and every session records the
 * bridge as its client.
 */
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { Interceptor, Transport } from "@connectrpc/connect";
import { FORWARDED_USER_AGENT } from "../../src/lib/client-ip.js";
import { CLIENT_IDLE_TIMEOUT_MS } from "../../src/lib/http-limits.js";
import { clientIpKey, clientUserAgentKey } from "../../src/rpc/index.js";

const forwardClient: Interceptor = (next) => (request) => {
  const ip = request.contextValues.get(clientIpKey);
  if (ip !== "") {
    request.header.set("x-forwarded-for", ip);
    // Always sent with the IP: empty says the client sent none (not "take my own").
    request.header.set(FORWARDED_USER_AGENT, request.contextValues.get(clientUserAgentKey) ?? "");
  }
  return next(request);
};

/** `interceptors` run inside the client forwarding (e.g. the trace's `traceparent`). */
export function createGrpcUpstream(baseUrl: string, interceptors: readonly Interceptor[] = []): Transport {
  return createGrpcTransport({
    baseUrl,
    interceptors: [forwardClient, ...interceptors],
    defaultTimeoutMs: 10_000,
    // Notice a dead upstream connection between requests, not on a user's request.
    pingIntervalMs: 30_000,
    // The gRPC port closes connections idle for 5 s; closing first means no user's
    // request is sent just as that GOAWAY arrives (it would be refused, not retried).
    idleConnectionTimeoutMs: CLIENT_IDLE_TIMEOUT_MS,
  });
}
