/**
 * A bare unary gRPC client for the bench's closed loops (refresh and login, which
 * h2load cannot drive: each call sends what the previous answer or a fresh code
 * gave). node:http2 with the length-prefixed frame written by hand and protobuf-es
 * for the messages: no interceptors, abort signals or header objects per call, so
 * the load generator costs a fraction of the CPU the Connect client does, and on
 * this 2-core machine more of the other core is left to measure the service with.
 * Nothing here checks what a real client must (deadlines, compression, message
 * limits); the service's tests use the real clients.
 */
import http2 from "node:http2";
import { fromBinary, toBinary, type DescMessage, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { create } from "@bufbuild/protobuf";

const { HTTP2_HEADER_METHOD, HTTP2_HEADER_PATH, HTTP2_HEADER_CONTENT_TYPE, HTTP2_HEADER_TE } = http2.constants;

export class RawGrpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(`gRPC status ${code}: ${message}`);
  }
}

export interface RawGrpcClient {
  /** Calls `path` (`/package.Service/Method`) with one message; the answer's message. */
  unary<I extends DescMessage, O extends DescMessage>(path: string, input: I, output: O, message: MessageInitShape<I>): Promise<MessageShape<O>>;
  close(): Promise<void>;
}

function connect(baseUrl: string, ca?: string | Buffer): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(baseUrl, ca === undefined ? {} : { ca });
    session.once("connect", () => resolve(session));
    session.once("error", reject);
    session.on("goaway", () => session.close()); // the server's idle time-out: the next call reconnects
  });
}

/** `connections` HTTP/2 connections, calls spread over them in turn; one the
 * server closed (idle, GOAWAY) is opened again at its next call. */
export async function rawGrpcClient(baseUrl: string, connections = 2, ca?: string | Buffer): Promise<RawGrpcClient> {
  const sessions = await Promise.all(Array.from({ length: connections }, () => connect(baseUrl, ca)));
  const reopening = new Map<number, Promise<http2.ClientHttp2Session>>();
  const open = async (slot: number): Promise<http2.ClientHttp2Session> => {
    const session = sessions[slot]!;
    if (!session.closed && !session.destroyed) return session;
    let pending = reopening.get(slot);
    if (pending === undefined) {
      pending = connect(baseUrl, ca).then((fresh) => (sessions[slot] = fresh), (error: unknown) => Promise.reject(error)).finally(() => reopening.delete(slot));
      reopening.set(slot, pending);
    }
    return pending;
  };
  let next = 0;
  const client: RawGrpcClient = {
    unary(path, input, output, message) {
      const body = toBinary(input, create(input, message));
      const frame = Buffer.allocUnsafe(5 + body.length);
      frame[0] = 0;
      frame.writeUInt32BE(body.length, 1);
      frame.set(body, 5);
      const slot = next++ % sessions.length;
      const session = sessions[slot]!;
      if (session.closed || session.destroyed) return open(slot).then(() => client.unary(path, input, output, message));
      return new Promise((resolve, reject) => {
        const stream = session.request({ [HTTP2_HEADER_METHOD]: "POST", [HTTP2_HEADER_PATH]: path, [HTTP2_HEADER_CONTENT_TYPE]: "application/grpc", [HTTP2_HEADER_TE]: "trailers" });
        const chunks: Buffer[] = [];
        let status: string | undefined;
        let statusMessage = "";
        const readStatus = (headers: http2.IncomingHttpHeaders) => {
          if (headers["grpc-status"] !== undefined) {
            status = String(headers["grpc-status"]);
            statusMessage = decodeURIComponent(String(headers["grpc-message"] ?? ""));
          }
        };
        stream.on("response", readStatus); // a trailers-only answer (an error) carries the status here
        stream.on("trailers", readStatus);
        stream.on("data", (chunk: Buffer) => chunks.push(chunk));
        stream.on("error", reject);
        stream.on("close", () => {
          if (status !== "0") return reject(new RawGrpcError(Number(status ?? 2), status === undefined ? "stream closed without a status" : statusMessage));
          const data = Buffer.concat(chunks);
          if (data.length < 5 || data[0] !== 0) return reject(new RawGrpcError(13, "malformed answer"));
          resolve(fromBinary(output, data.subarray(5, 5 + data.readUInt32BE(1))));
        });
        stream.end(frame);
      });
    },
    async close() {
      // A session the server already closed (idle GOAWAY) would never call back.
      await Promise.all(sessions.map((session) => (session.closed || session.destroyed ? undefined : new Promise<void>((resolve) => session.close(() => resolve())))));
    },
  };
  return client;
}
