/**
 * The client address that per-IP limits count: the peer's address (never its port),
 * or what a trusted proxy says in X-Forwarded-For.
 */
import { describe, expect, it } from "vitest";
import { createClientIpResolver, ipOfGrpcPeer } from "../src/lib/client-ip.js";

describe("ipOfGrpcPeer", () => {
  it.each([
    ["127.0.0.1:50123", "127.0.0.1"],
    ["ipv4:10.1.2.3:443", "10.1.2.3"],
    ["[::1]:50123", "::1"],
    ["ipv6:[2001:db8::7]:50123", "2001:db8::7"],
    // grpc-js's own getPeer() glues the port to an IPv6 address without brackets.
    ["::1:50123", "::1"],
    ["2001:db8::7:443", "2001:db8::7"],
    ["::ffff:192.0.2.4:50123", "192.0.2.4"],
    ["192.0.2.4", "192.0.2.4"],
    ["::1", "::1"],
  ])("reads %s as %s", (peer, ip) => {
    expect(ipOfGrpcPeer(peer)).toBe(ip);
  });
});

describe("createClientIpResolver", () => {
  it("ignores X-Forwarded-For when no proxy is trusted, or when the peer is not one", () => {
    expect(createClientIpResolver([])("192.0.2.4", "203.0.113.9")).toBe("192.0.2.4");
    expect(createClientIpResolver(["10.0.0.0/8"])("192.0.2.4", "203.0.113.9")).toBe("192.0.2.4");
  });

  it("believes a trusted proxy: the right-most hop that is not itself a trusted proxy", () => {
    const resolve = createClientIpResolver(["10.0.0.0/8", "127.0.0.1"]);
    expect(resolve("10.1.1.1", "203.0.113.9")).toBe("203.0.113.9");
    expect(resolve("127.0.0.1", "198.51.100.1, 203.0.113.9, 10.2.2.2")).toBe("203.0.113.9");
    expect(resolve("::ffff:10.1.1.1", "203.0.113.9")).toBe("203.0.113.9");
    // A forged left-most entry does not win over what the proxy appended.
    expect(resolve("10.1.1.1", "1.1.1.1, 203.0.113.9")).toBe("203.0.113.9");
    // Garbage in the header: fall back to the peer.
    expect(resolve("10.1.1.1", "not-an-ip")).toBe("10.1.1.1");
  });
});
