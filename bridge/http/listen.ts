/**
 * One port, two protocols: HTTP/1.1 for browsers and curl, and HTTP/2 for gRPC and
 * Connect clients (and browsers that offer it). In plaintext each new connection is
 * told apart by its first bytes: an HTTP/2 client starts with the connection preface
 * (h2c, "prior knowledge"), nothing else does. Over TLS, ALPN says which (h2 or
 * http/1.1), and only TLS is spoken: a plaintext client fails the handshake.
 */
import { createServer as createHttp1Server } from "node:http";
import { createServer as createHttp2Server, type Http2Session } from "node:http2";
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from "node:net";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import { HTTP_LIMITS, closeIdleHttp2Sessions, limitHttp2Streams, type HttpLimits } from "../../src/lib/http-limits.js";
import { contextOptions, type ReloadableTls } from "../../src/lib/tls.js";
import type { NodeRequest, NodeResponse } from "./exchange.js";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

export interface ListenOptions {
  host: string;
  port: number;
  handler: (req: NodeRequest, res: NodeResponse) => void;
  /** The same budgets and time-outs on both protocols; HTTP_LIMITS by default (tests shorten them). */
  limits?: Partial<HttpLimits>;
  /** HTTPS only, with this certificate, taking each reload for new connections; absent, plaintext. */
  tls?: ReloadableTls;
}

/** On every answer over TLS: browsers keep to HTTPS for two years, subdomains too. */
export const STRICT_TRANSPORT_SECURITY = "max-age=63072000; includeSubDomains";

export interface Listening {
  readonly port: number;
  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then cuts the rest. */
  close(graceMs?: number): Promise<void>;
}

export async function listenHttp(options: ListenOptions): Promise<Listening> {
  const limits: HttpLimits = { ...HTTP_LIMITS, ...options.limits };
  const { tls } = options;
  const handler: ListenOptions["handler"] =
    tls === undefined
      ? options.handler
      : (req, res) => {
          res.setHeader("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY);
          options.handler(req, res);
        };
  const http1 = createHttp1Server(
    {
      keepAliveTimeout: limits.idleTimeoutMs,
      headersTimeout: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs),
      requestTimeout: limits.requestTimeoutMs,
      maxHeaderSize: limits.maxHeaderBytes,
    },
    handler,
  );
  // The HTTP/1.1 server never listens itself (the sniffer or TLS hands it sockets), so its
  // connection tracking, which enforces headersTimeout/requestTimeout and lets
  // closeIdleConnections() work, is started the way listen() would start it.
  http1.emit("listening");
  const http2 = createHttp2Server(
    { settings: { maxConcurrentStreams: limits.maxConcurrentStreams, maxHeaderListSize: limits.maxHeaderBytes } },
    (req, res) => {
      // Already refused by the limits (431): the stream is closed, nothing to handle.
      if (req.stream.closed) return;
      handler(req, res);
    },
  );
  // Before the compatibility layer's own listener, so an over-size header list is
  // refused before the handler sees the request.
  http2.prependListener("stream", limitHttp2Streams(limits, { headersTooLarge: { ":status": 431 }, stalled: { ":status": 408 } }));
  closeIdleHttp2Sessions(http2, limits.idleTimeoutMs);
  const sockets = new Set<Socket>();
  const sessions = new Set<Http2Session>();
  http2.on("session", (session: Http2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });

  const server = tls === undefined ? sniffingServer(http1, http2, limits) : secureServer(tls, http1, http2, limits);
  // Raw sockets (before TLS), so that close() can cut what the grace period left.
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });

  return {
    port: (server.address() as AddressInfo).port,
    async close(graceMs = 5_000) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      http1.closeIdleConnections();
      for (const session of sessions) session.close();
      const cut = setTimeout(() => {
        for (const socket of sockets) socket.destroy();
      }, graceMs);
      cut.unref();
      // Keep-alive HTTP/1.1 connections that become idle after their last answer.
      const sweep = setInterval(() => http1.closeIdleConnections(), 100);
      sweep.unref();
      await closed;
      clearTimeout(cut);
      clearInterval(sweep);
      http1.close(); // stops its connection-checking timer
    },
  };
}

type Http1Server = ReturnType<typeof createHttp1Server>;
type Http2Server = ReturnType<typeof createHttp2Server>;

/** Plaintext: HTTP/1.1, or h2c when the first bytes are HTTP/2's preface. */
function sniffingServer(http1: Http1Server, http2: Http2Server, limits: HttpLimits): NetServer {
  return createNetServer((socket) => {
    sniff(socket, limits.headersTimeoutMs, (isHttp2) => {
      if (isHttp2) {
        http2.emit("connection", socket);
      } else {
        http1.emit("connection", socket);
        socket.resume();
      }
    });
  });
}

/** TLS only: h2 or HTTP/1.1 as ALPN agreed (a client offering neither gets HTTP/1.1). */
function secureServer(tls: ReloadableTls, http1: Http1Server, http2: Http2Server, limits: HttpLimits): NetServer {
  const server = createTlsServer(
    // The handshake is a new connection's first bytes: the same time-out.
    { ...contextOptions(tls.material), ALPNProtocols: ["h2", "http/1.1"], handshakeTimeout: limits.headersTimeoutMs },
    (socket: TLSSocket) => (socket.alpnProtocol === "h2" ? http2 : http1).emit("connection", socket),
  );
  // New connections get the new certificate; open ones keep the one they started with.
  const stop = tls.subscribe((material) => server.setSecureContext(contextOptions(material)));
  server.once("close", stop);
  return server;
}

/** Reads until the bytes decide the protocol, then puts them back for the real parser. */
function sniff(socket: Socket, silentMs: number, decide: (isHttp2: boolean) => void): void {
  let seen: Buffer = Buffer.alloc(0);
  // A connection that never says anything is not kept.
  const silent = setTimeout(() => socket.destroy(), silentMs);
  const onError = () => socket.destroy();
  const onData = (chunk: Buffer) => {
    seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
    const n = Math.min(seen.length, PREFACE.length);
    const prefaceSoFar = seen.subarray(0, n).equals(PREFACE.subarray(0, n));
    if (prefaceSoFar && seen.length < PREFACE.length) return;
    clearTimeout(silent);
    socket.off("data", onData);
    socket.off("error", onError);
    socket.pause();
    socket.unshift(seen);
    decide(prefaceSoFar);
  };
  socket.on("data", onData);
  socket.on("error", onError);
  socket.once("close", () => clearTimeout(silent));
}
