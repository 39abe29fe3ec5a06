import { BlockList, isIP } from "node:net";

/**
 * The client's address: the peer's, unless the peer is a trusted proxy, in which
 * case the right-most X-Forwarded-For entry that is not itself a trusted proxy.
 * Anyone else's X-Forwarded-For is ignored, so it cannot dodge per-IP limits.
 * The entries are addresses or CIDR ranges as loadConfig checked them (TRUSTED_PROXIES).
 */
export function createClientIpResolver(trustedProxies: readonly string[]): (peer: string, forwardedFor: string | undefined) => string {
  const isTrusted = proxyTrust(trustedProxies);
  return (peer, forwardedFor) => forwardedIp(normalizeIp(peer), forwardedFor, isTrusted);
}

/** The header a bridge forwards its client's User-Agent in (its own `user-agent`
 * names the bridge); empty when the client sent none. */
export const FORWARDED_USER_AGENT = "x-forwarded-user-agent";

/** The client of a gRPC call. */
export interface CallClient {
  ip: string;
  userAgent: string | undefined;
}

/**
 * The client of a gRPC call. From a trusted proxy: the forwarded IP (as above) and
 * the User-Agent it forwarded, or, when it forwarded none (a proxy that passes the
 * caller's headers through), the `user-agent` it passed on. From anyone else: the
 * peer's address and the caller's own `user-agent`; what it says it forwards is
 * ignored, as its X-Forwarded-For is.
 */
export function createCallClientResolver(trustedProxies: readonly string[]): (peer: string, header: (name: string) => string | undefined) => CallClient {
  const isTrusted = proxyTrust(trustedProxies);
  return (peer, header) => {
    const peerIp = normalizeIp(peer);
    if (!isTrusted(peerIp)) return { ip: peerIp, userAgent: header("user-agent") };
    return { ip: forwardedIp(peerIp, header("x-forwarded-for"), isTrusted), userAgent: header(FORWARDED_USER_AGENT) ?? header("user-agent") };
  };
}

/** Whether an address is one of TRUSTED_PROXIES. */
function proxyTrust(trustedProxies: readonly string[]): (ip: string) => boolean {
  if (trustedProxies.length === 0) return () => false;
  const trusted = new BlockList();
  for (const entry of trustedProxies) {
    const [address, bits] = entry.split("/");
    const type = isIP(address ?? "") === 6 ? "ipv6" : "ipv4";
    if (bits === undefined) trusted.addAddress(address!, type);
    else trusted.addSubnet(address!, Number(bits), type);
  }
  return (ip) => {
    const family = isIP(ip);
    return family !== 0 && trusted.check(ip, family === 6 ? "ipv6" : "ipv4");
  };
}

function forwardedIp(peerIp: string, forwardedFor: string | undefined, isTrusted: (ip: string) => boolean): string {
  if (forwardedFor === undefined || !isTrusted(peerIp)) return peerIp;
  const hops = forwardedFor.split(",").map((h) => normalizeIp(h.trim()));
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!;
    if (isIP(hop) === 0) return peerIp;
    if (!isTrusted(hop)) return hop;
  }
  return hops[0] ?? peerIp;
}

/** `::ffff:1.2.3.4` → `1.2.3.4`, so one client is one rate bucket. */
export function normalizeIp(ip: string): string {
  return ip.startsWith("::ffff:") && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

/**
 * grpc-js peers look like `127.0.0.1:5000`, `[::1]:5000`, `ipv4:…`, or (grpc-js's
 * own `${remoteAddress}:${remotePort}`) `::1:5000`, an IPv6 address with the port
 * glued on. The port goes: one client is one rate bucket however it reconnects.
 */
export function ipOfGrpcPeer(peer: string): string {
  const bare = peer.replace(/^ipv[46]:/, "");
  const bracketed = /^\[([^\]]+)\]:\d+$/.exec(bare);
  if (bracketed) return normalizeIp(bracketed[1]!);
  const withPort = /^(.+):\d+$/.exec(bare);
  if (withPort && isIP(withPort[1]!) !== 0) return normalizeIp(withPort[1]!);
  return normalizeIp(bare);
}
