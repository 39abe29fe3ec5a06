/**
 * One port, two protocols: HTTP/1.1 for browsers and curl, and HTTP/2 over
 * cleartext (h2c, "prior knowledge") for gRPC and Connect clients. Each new
 * connection is told apart by its first bytes: an HTTP/2 client starts with the
 * connection preface, nothing else does.
 */
import { createServer as createHttp1Server } from "node:http";
import { createServer as createHttp2Server, type Http2Session } from "node:http2";
import { createServer as createNetServer, type AddressInfo, type Socket } from "node:net";
import { HTTP_LIMITS, closeIdleHttp2Sessions, limitHttp2Streams, type HttpLimits } from "../../src/lib/http-limits.js";
import type { NodeRequest, NodeResponse } from "./exchange.js";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

export interface ListenOptions {
  host: string;
  port: number;
  handler: (req: NodeRequest, res: NodeResponse) => void;
  /** The same budgets and time-outs on both protocols; HTTP_LIMITS by default (tests shorten them). */
  limits?: Partial<HttpLimits>;
}

export interface Listening {
  readonly port: number;
  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then cuts the rest. */
  close(graceMs?: number): Promise<void>;
}

export async function listenHttp(options: ListenOptions): Promise<Listening> {
  const limits: HttpLimits = { ...HTTP_LIMITS, ...options.limits };
  const http1 = createHttp1Server(
    {
      keepAliveTimeout: limits.idleTimeoutMs,
      headersTimeout: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs),
      requestTimeout: limits.requestTimeoutMs,
      maxHeaderSize: limits.maxHeaderBytes,
    },
    options.handler,
  );
  // The HTTP/1.1 server never listens itself (the sniffer hands it sockets), so its
  // connection tracking, which enforces headersTimeout/requestTimeout and lets
  // closeIdleConnections() work, is started the way listen() would start it.
  http1.emit("listening");
  const http2 = createHttp2Server(
    { settings: { maxConcurrentStreams: limits.maxConcurrentStreams, maxHeaderListSize: limits.maxHeaderBytes } },
    (req, res) => {
      // Already refused by the limits (431): the stream is closed, nothing to handle.
      if (req.stream.closed) return;
      options.handler(req, res);
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

  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    sniff(socket, limits.headersTimeoutMs, (isHttp2) => {
      if (isHttp2) {
        http2.emit("connection", socket);
      } else {
        http1.emit("connection", socket);
        socket.resume();
      }
    });
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
