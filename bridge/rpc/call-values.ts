/**
 * What travels with an RPC besides its headers. The client (IP and User-Agent) is
 * resolved once by the bridge and travels as the services' own `clientIpKey` and
 * `clientUserAgentKey` values: the in-process transport hands the values to the
 * handlers, the gRPC upstream transport sends them as `x-forwarded-for` and
 * `x-forwarded-user-agent`.
 */
import { createContextValues, type ContextValues } from "@connectrpc/connect";
import { userAgentOf } from "../../src/core/sessions/client.js";
import { clientIpKey, clientUserAgentKey } from "../../src/rpc/index.js";

/** The values of a call from `clientIp` with the request's `User-Agent` header. The
 * User-Agent is kept as sessions keep it, so it is a valid header upstream too. */
export function callValues(clientIp: string, userAgent: string | undefined): ContextValues {
  return createContextValues()
    .set(clientIpKey, clientIp)
    .set(clientUserAgentKey, userAgentOf(userAgent) ?? undefined);
}

/** Request headers an `/api` call passes on to its RPC (the staff routes take a service's key too). */
export const API_REQUEST_HEADERS = ["authorization", "accept-language", "x-api-key"] as const;
/** Request headers a Connect-protocol call passes on (Introspect needs its key). */
export const CONNECT_REQUEST_HEADERS = ["authorization", "accept-language", "x-api-key"] as const;
/** RPC response headers passed back to HTTP callers, errors' `retry-after` included. */
export const RESPONSE_HEADERS = ["x-authenticated", "x-token-expires-at", "retry-after"] as const;

/** Copies the named headers (lower-case) that are present. */
export function pickHeaders(from: { get(name: string): string | null } | ((name: string) => string | undefined), names: readonly string[]): Headers {
  const get = typeof from === "function" ? from : (name: string) => from.get(name) ?? undefined;
  const picked = new Headers();
  for (const name of names) {
    const value = get(name);
    if (value !== undefined) picked.set(name, value);
  }
  return picked;
}
