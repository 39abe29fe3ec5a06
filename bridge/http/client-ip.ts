/**
 * The client address of an HTTP request: the socket's peer, or the X-Forwarded-For
 * hop a trusted proxy (TRUSTED_PROXIES) vouches for, through the same resolver
 * the gRPC server uses.
 */
import { createClientIpResolver } from "../../src/lib/client-ip.js";
import { headerOf, type NodeRequest } from "./exchange.js";

export function createRequestIp(trustedProxies: readonly string[]): (req: NodeRequest) => string {
  const resolve = createClientIpResolver(trustedProxies);
  return (req) => resolve(req.socket.remoteAddress ?? "", headerOf(req.headers, "x-forwarded-for"));
}
