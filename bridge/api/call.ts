/**
 * One RPC on behalf of an HTTP request: its Authorization and Accept-Language
 * headers, the resolved client IP and its User-Agent go along; the response
 * headers come back.
 */
import type { CallOptions } from "@connectrpc/connect";
import type { Exchange } from "../http/exchange.js";
import { headerOf } from "../http/exchange.js";
import { API_REQUEST_HEADERS, callValues, pickHeaders } from "../rpc/call-values.js";

export interface Answer<T> {
  message: T;
  header: Headers;
}

export async function call<T>(ex: Exchange, rpc: (options: CallOptions) => Promise<T>): Promise<Answer<T>> {
  let header = new Headers();
  const message = await rpc({
    headers: pickHeaders((name) => headerOf(ex.req.headers, name), API_REQUEST_HEADERS),
    contextValues: callValues(ex.clientIp, headerOf(ex.req.headers, "user-agent")),
    onHeader: (received) => (header = received),
  });
  return { message, header };
}

/** `X-Authenticated` and `X-Token-Expires-At`, when the RPC authenticated the caller. */
export function authenticatedHeaders(header: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  const authenticated = header.get("x-authenticated");
  const expiresAt = header.get("x-token-expires-at");
  if (authenticated !== null) out["X-Authenticated"] = authenticated;
  if (expiresAt !== null) out["X-Token-Expires-At"] = expiresAt;
  return out;
}
