/**
 * The limits every HTTP port keeps (DESIGN.md, "Limits every deployment gets"), and
 * how they are held on HTTP/2, where Node enforces none of them by itself: the
 * bridge's h2c and the gRPC port both use this module.
 */
import { constants, type Http2Server, type Http2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from "node:http2";

export interface HttpLimits {
  /** Streams one HTTP/2 connection may have open at once (advertised in SETTINGS). */
  maxConcurrentStreams: number;
  /** Largest request header section; HTTP/1.1 answers 431 past Node's 16 KiB. */
  maxHeaderBytes: number;
  /** A connection with no request in progress is closed after this long. */
  idleTimeoutMs: number;
  /** HTTP/1.1's request line and headers, and a new connection's first bytes, must arrive within this long. */
  headersTimeoutMs: number;
  /** A request that has not fully arrived after this long is answered and dropped. */
  requestTimeoutMs: number;
}

export const HTTP_LIMITS: Readonly<HttpLimits> = {
  maxConcurrentStreams: 1000,
  maxHeaderBytes: 16 * 1024,
  idleTimeoutMs: 5_000,
  headersTimeoutMs: 20_000,
  requestTimeoutMs: 30_000,
};

/**
 * How long our own HTTP/2 clients keep an idle connection to these ports: they close
 * it before the server does, so no request of theirs races the server's GOAWAY.
 */
export const CLIENT_IDLE_TIMEOUT_MS = HTTP_LIMITS.idleTimeoutMs - 1_000;

/** What a port answers, in its own protocol, before it resets the stream. */
export interface StreamRefusals {
  headersTooLarge: OutgoingHttpHeaders;
  stalled: OutgoingHttpHeaders;
}

export type StreamListener = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, rawHeaders: string[]) => void;

/**
 * A `stream` listener holding each HTTP/2 stream to the limits: headers over the
 * budget are refused, a request still arriving after `requestTimeoutMs` is refused,
 * and a stream answered before its request ended is reset (RST_STREAM NO_ERROR,
 * RFC 9113 §8.1) so a client still sending stops instead of hanging.
 */
export function limitHttp2Streams(limits: Pick<HttpLimits, "maxHeaderBytes" | "requestTimeoutMs">, refusals: StreamRefusals): StreamListener {
  return (stream, _headers, _flags, rawHeaders) => {
    resetWhenAnsweredEarly(stream);
    if (headerListBytes(rawHeaders) > limits.maxHeaderBytes) {
      refuse(stream, refusals.headersTooLarge);
      return;
    }
    const stall = setTimeout(() => {
      if (!stream.closed && !requestEnded(stream)) refuse(stream, refusals.stalled);
    }, limits.requestTimeoutMs);
    stall.unref();
    stream.once("close", () => clearTimeout(stall));
  };
}

/** Closes (GOAWAY) every session of `server` that has had no open stream for `idleMs`. */
export function closeIdleHttp2Sessions(server: Http2Server, idleMs: number): void {
  server.on("session", (session: Http2Session) => {
    let open = 0;
    let idle: NodeJS.Timeout | undefined;
    const startIdle = () => {
      idle = setTimeout(() => session.close(), idleMs);
      idle.unref();
    };
    startIdle();
    session.on("stream", (stream: ServerHttp2Stream) => {
      open += 1;
      clearTimeout(idle);
      stream.once("close", () => {
        open -= 1;
        if (open === 0 && !session.closed) startIdle();
      });
    });
    session.once("close", () => clearTimeout(idle));
  });
}

/** HTTP/2's measure of a header list: each field's name and value plus 32 (RFC 9113 §6.5.2). */
export function headerListBytes(rawHeaders: readonly string[]): number {
  let bytes = 0;
  for (const field of rawHeaders) bytes += Buffer.byteLength(field);
  return bytes + (rawHeaders.length / 2) * 32;
}

/**
 * Answers if nothing has been answered yet, and closes the stream at once, so the
 * handler that already has it does no more with it; the reset goes out after the answer.
 */
function refuse(stream: ServerHttp2Stream, answer: OutgoingHttpHeaders): void {
  if (stream.closed || stream.destroyed) return;
  const answering = !stream.headersSent;
  if (answering) stream.respond(answer, { endStream: true });
  stream.close(answering ? constants.NGHTTP2_NO_ERROR : constants.NGHTTP2_CANCEL);
}

function resetWhenAnsweredEarly(stream: ServerHttp2Stream): void {
  stream.once("finish", () => {
    if (stream.closed || requestEnded(stream)) return;
    const reset = () => stream.close(constants.NGHTTP2_NO_ERROR);
    // Trailers (gRPC status, compat responses) go out after `finish`: reset after them.
    if (stream.listenerCount("wantTrailers") > 0 && stream.state.localClose !== 1) {
      stream.once("wantTrailers", () => setImmediate(reset));
    } else {
      reset();
    }
  });
}

/** Whether the client has sent all of its request (END_STREAM), read or not. */
function requestEnded(stream: ServerHttp2Stream): boolean {
  return stream.state.remoteClose === 1;
}
