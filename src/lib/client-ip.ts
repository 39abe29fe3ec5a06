import { BlockList, isIP } from "node:net";

/**
 * The client's address: the peer's, unless the peer is a trusted proxy, in which
 * case the right-most X-Forwarded-For entry that is not itself a trusted proxy.
 * Anyone else's X-Forwarded-For is ignored, so it cannot dodge per-IP limits.
 * The entries are addresses or CIDR ranges as loadConfig checked them (TRUSTED_PROXIES).
 */
export function createClientIpResolver(trustedProxies: readonly string[]): (peer: string, forwardedFor: string | undefined) => string {
  const trusted = new BlockList();
  for (const entry of trustedProxies) {
    const [address, bits] = entry.split("/");
    const type = isIP(address ?? "") === 6 ? "ipv6" : "ipv4";
    if (bits === undefined) trusted.addAddress(address!, type);
    else trusted.addSubnet(address!, Number(bits), type);
  }
  const isTrusted = (ip: string) => {
    const family = isIP(ip);
    return family !== 0 && trusted.check(ip, family === 6 ? "ipv6" : "ipv4");
  };
  return (peer, forwardedFor) => {
    const peerIp = normalizeIp(peer);
    if (trustedProxies.length === 0 || forwardedFor === undefined || !isTrusted(peerIp)) return peerIp;
    const hops = forwardedFor.split(",").map((h) => normalizeIp(h.trim()));
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i]!;
      if (isIP(hop) === 0) return peerIp;
      if (!isTrusted(hop)) return hop;
    }
    return hops[0] ?? peerIp;
  };
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
