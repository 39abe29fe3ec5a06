/**
 * The client address that per-IP limits count: the peer's address (never its port),
 * or what a trusted proxy says in X-Forwarded-For; and the User-Agent a gRPC call's
 * client is recorded with, forwarded only by a trusted proxy.
 */
import { describe, expect, it } from "vitest";
import { createCallClientResolver, createClientIpResolver, ipOfGrpcPeer } from "../src/lib/client-ip.js";

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

describe("createCallClientResolver", () => {
  const metadata = (entries: Record<string, string>) => (name: string) => entries[name];
  const forwarded = metadata({ "user-agent": "connect-es/2.1.2", "x-forwarded-for": "203.0.113.9", "x-forwarded-user-agent": "Mozilla/5.0 Firefox/140.0" });

  it("believes the IP and User-Agent a trusted proxy forwards", () => {
    expect(createCallClientResolver(["127.0.0.1"])("127.0.0.1", forwarded)).toEqual({ ip: "203.0.113.9", userAgent: "Mozilla/5.0 Firefox/140.0" });
  });

  it("takes an empty forwarded User-Agent from a trusted proxy as the client's (none), not the proxy's own", () => {
    const resolve = createCallClientResolver(["127.0.0.1"]);
    expect(resolve("127.0.0.1", metadata({ "user-agent": "connect-es/2.1.2", "x-forwarded-for": "203.0.113.9", "x-forwarded-user-agent": "" }))).toEqual({ ip: "203.0.113.9", userAgent: "" });
  });

  it("takes the user-agent a trusted proxy passed through when it forwarded none", () => {
    const resolve = createCallClientResolver(["10.0.0.0/8"]);
    expect(resolve("10.1.1.1", metadata({ "user-agent": "grpc-go/1.70", "x-forwarded-for": "203.0.113.9" }))).toEqual({ ip: "203.0.113.9", userAgent: "grpc-go/1.70" });
  });

  it("believes neither from anyone else: the peer's address and its own user-agent", () => {
    expect(createCallClientResolver([])("192.0.2.4", forwarded)).toEqual({ ip: "192.0.2.4", userAgent: "connect-es/2.1.2" });
    expect(createCallClientResolver(["10.0.0.0/8"])("192.0.2.4", forwarded)).toEqual({ ip: "192.0.2.4", userAgent: "connect-es/2.1.2" });
    expect(createCallClientResolver(["10.0.0.0/8"])("192.0.2.4", metadata({}))).toEqual({ ip: "192.0.2.4", userAgent: undefined });
  });
});
