/**
 * Clients that see what TLS tests assert: the certificate a port serves (by
 * fingerprint), the protocol ALPN picked, an HTTP/2 connection kept open across a
 * reload, and what a plaintext client gets from a TLS-only port.
 */
import { request as http1Request } from "node:http";
import { connect as http2Connect, type ClientHttp2Session, type IncomingHttpHeaders, type SecureClientSessionOptions } from "node:http2";
import { request as httpsRequest } from "node:https";
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from "node:tls";

/** What a client trusts and presents: the test CA, and a client certificate if any. */
export interface ClientTls {
  ca: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/** The SHA-256 fingerprint of the certificate `port` serves to a new connection. */
export async function servedFingerprint(port: number, client: ClientTls): Promise<string> {
  const socket = await new Promise<TLSSocket>((resolve, reject) => {
    const s = tlsConnect({ host: "127.0.0.1", port, ...client, ALPNProtocols: ["h2"] }, () => resolve(s));
    s.once("error", reject);
  });
  const fingerprint = socket.getPeerX509Certificate()!.fingerprint256;
  socket.destroy();
  return fingerprint;
}

const HTTP2_PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/**
 * Whether `port` serves an h2 client presenting `client`'s certificate: `served`
 * (the server's first SETTINGS arrived), else the TLS error the client got, or
 * `closed`. With TLS 1.3 a refused client certificate shows only after the handshake:
 * as an alert (none sent), or as the connection closed (one Node could not verify).
 */
export function h2Handshake(port: number, client: ClientTls): Promise<string> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: "127.0.0.1", port, ...client, ALPNProtocols: ["h2"] }, () => socket.write(HTTP2_PREFACE + "\0\0\0\x04\0\0\0\0\0"));
    socket.once("data", () => {
      socket.destroy();
      resolve("served");
    });
    socket.once("error", (error) => {
      socket.destroy();
      resolve(error.message);
    });
    socket.once("close", () => resolve("closed"));
  });
}

/** An HTTP/2 connection over TLS, once connected. */
export async function openHttp2(url: string, client: ClientTls): Promise<ClientHttp2Session> {
  const session = http2Connect(url, { ...client, rejectUnauthorized: true } satisfies SecureClientSessionOptions);
  await new Promise<void>((resolve, reject) => {
    session.once("connect", () => resolve());
    session.once("error", reject);
  });
  return session;
}

/** The fingerprint of the certificate an open session was served. */
export function sessionFingerprint(session: ClientHttp2Session): string {
  return (session.socket as TLSSocket).getPeerX509Certificate()!.fingerprint256;
}

export interface Http2Answer {
  status: number;
  headers: IncomingHttpHeaders;
  trailers: IncomingHttpHeaders;
  body: Buffer;
}

/** One request on an open session. */
export function http2Call(session: ClientHttp2Session, headers: Record<string, string>, body?: Uint8Array): Promise<Http2Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    let answered: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on("response", (h) => (answered = h));
    stream.on("trailers", (t) => (trailers = t));
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () => resolve({ status: Number(answered[":status"]), headers: answered, trailers, body: Buffer.concat(chunks) }));
    stream.on("error", reject);
    if (body !== undefined) stream.end(body);
  });
}

/** grpc.health.v1.Health/Check{} as raw gRPC on an open session: its grpc-status. */
export async function grpcHealthCheck(session: ClientHttp2Session): Promise<string | undefined> {
  const answer = await http2Call(
    session,
    { ":method": "POST", ":path": "/grpc.health.v1.Health/Check", "content-type": "application/grpc", te: "trailers" },
    new Uint8Array(5), // an empty HealthCheckRequest: uncompressed, length 0
  );
  return String(answer.trailers["grpc-status"] ?? answer.headers["grpc-status"]);
}

/** An HTTP/1.1 request over TLS, offering only http/1.1 by ALPN. */
export function https1(url: string, client: ClientTls, options: { method?: string; json?: unknown } = {}): Promise<{ status: number; headers: IncomingHttpHeaders; body: string; alpn: string | false }> {
  return new Promise((resolve, reject) => {
    const body = options.json === undefined ? undefined : JSON.stringify(options.json);
    const tlsOptions: ConnectionOptions = { ...client, ALPNProtocols: ["http/1.1"] };
    const req = httpsRequest(url, { ...tlsOptions, method: options.method ?? "GET", agent: false, headers: body === undefined ? {} : { "content-type": "application/json" } }, (res) => {
      const alpn = (res.socket as TLSSocket).alpnProtocol ?? false;
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: text, alpn }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/**
 * What a plaintext client gets from `port`: `answered` with a status, or `refused`
 * (the connection failed or closed with no answer). HTTP/1.1, or h2c with prior knowledge.
 */
export function plaintextOutcome(port: number, protocol: "http/1.1" | "h2c"): Promise<"answered" | "refused"> {
  if (protocol === "http/1.1") {
    return new Promise((resolve) => {
      const req = http1Request({ host: "127.0.0.1", port, path: "/healthz", agent: false }, (res) => {
        res.resume();
        resolve("answered");
      });
      req.on("error", () => resolve("refused"));
      req.end();
    });
  }
  return new Promise((resolve) => {
    const session = http2Connect(`http://127.0.0.1:${port}`);
    session.on("error", () => {});
    const stream = session.request({ ":path": "/healthz" });
    stream.on("response", () => {
      session.destroy();
      resolve("answered");
    });
    stream.on("error", () => {});
    stream.on("close", () => {
      session.destroy();
      resolve("refused");
    });
  });
}
