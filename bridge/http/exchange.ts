/**
 * The slice of Node's request and response objects the bridge uses. Both the
 * HTTP/1.1 objects (`node:http`) and the HTTP/2 compatibility objects
 * (`node:http2`) fit, so one handler serves both protocols.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { Locale } from "../../src/config.js";

export type NodeRequest = IncomingMessage | Http2ServerRequest;
export type NodeResponse = ServerResponse | Http2ServerResponse;

export interface HttpResponse {
  readonly headersSent: boolean;
  setHeader(name: string, value: string | number | readonly string[]): unknown;
  writeHead(status: number, headers?: Record<string, string | number>): unknown;
  end(body?: string | Uint8Array): unknown;
}

/** One request being answered, with what every handler needs already worked out. */
export interface Exchange {
  readonly req: NodeRequest;
  readonly res: HttpResponse;
  /** The request path without query string and trailing slash (`/` stays `/`). */
  readonly path: string;
  readonly method: string;
  /** The language of `message`: from Accept-Language, else DEFAULT_LOCALE. */
  readonly locale: Locale;
  /** The peer's address, or what a trusted proxy said the client's was. */
  readonly clientIp: string;
}

/** A request header by lower-case name (the first one if repeated). */
export function headerOf(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** `/api/login/?x=1` → `/api/login`: trailing slashes are optional on every route. */
export function normalizePath(url: string | undefined): string {
  const raw = url ?? "/";
  const query = raw.indexOf("?");
  const path = query === -1 ? raw : raw.slice(0, query);
  let end = path.length;
  while (end > 1 && path.charCodeAt(end - 1) === 47 /* / */) end--;
  return path.slice(0, end) || "/";
}
