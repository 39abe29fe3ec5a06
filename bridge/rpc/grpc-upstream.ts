/**
 * The remote side of SERVICE_ROLE=bridge: Connect's gRPC transport over HTTP/2 to
 * GRPC_UPSTREAM. The client IP the bridge resolved goes along as
 * `x-forwarded-for`, and the client's User-Agent as `x-forwarded-user-agent` (the
 * request's own `user-agent` is the bridge's), which the gRPC instance believes
 * only from addresses in its TRUSTED_PROXIES: list the bridge there, or every
 * sign-up counts against the bridge's own address and every session records the
 * bridge as its client.
 *
 * An https:// upstream is verified with GRPC_UPSTREAM_CA_FILE (the system's CAs
 * without it) and sees GRPC_CLIENT_CERT_FILE's certificate; on a reload, calls go
 * through a transport made with the new files, while the old one's connection
 * finishes what it carries and closes idle.
 */
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { Interceptor, Transport } from "@connectrpc/connect";
import { FORWARDED_USER_AGENT } from "../../src/lib/client-ip.js";
import { CLIENT_IDLE_TIMEOUT_MS } from "../../src/lib/http-limits.js";
import { contextOptions, type ReloadableTls, type TlsMaterial } from "../../src/lib/tls.js";
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
export function createGrpcUpstream(baseUrl: string, interceptors: readonly Interceptor[] = [], tls?: ReloadableTls): Transport {
  if (tls === undefined) return upstreamTransport(baseUrl, interceptors, undefined);
  let current = upstreamTransport(baseUrl, interceptors, tls.material);
  tls.subscribe((material) => (current = upstreamTransport(baseUrl, interceptors, material)));
  return {
    unary: (...args) => current.unary(...args),
    stream: (...args) => current.stream(...args),
  };
}

function upstreamTransport(baseUrl: string, interceptors: readonly Interceptor[], tls: TlsMaterial | undefined): Transport {
  return createGrpcTransport({
    baseUrl,
    ...(tls && { nodeOptions: contextOptions(tls) }),
    interceptors: [forwardClient, ...interceptors],
    defaultTimeoutMs: 10_000,
    // Notice a dead upstream connection between requests, not on a user's request.
    pingIntervalMs: 30_000,
    // The gRPC port closes connections idle for 5 s; closing first means no user's
    // request is sent just as that GOAWAY arrives (it would be refused, not retried).
    idleConnectionTimeoutMs: CLIENT_IDLE_TIMEOUT_MS,
  });
}
