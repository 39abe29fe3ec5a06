/**
 * A typed client for other backend services: `verify` and `introspect` over gRPC.
 */
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { CLIENT_IDLE_TIMEOUT_MS } from "./lib/http-limits.js";
import { TokenService, type IntrospectResponse, type VerifyResponse } from "../gen/identity/v1/token_pb.js";

export interface IdentityClientOptions {
  /** The gRPC server, e.g. `http://identity-grpc.internal:50051`. */
  baseUrl: string;
  /** This service's key from SERVICE_API_KEYS (needed for introspect). */
  apiKey?: string;
  /** Per-call deadline. */
  timeoutMs?: number;
}

export interface IdentityClient {
  verify(token: string): Promise<VerifyResponse>;
  introspect(token: string, tokenTypeHint?: "access_token" | "refresh_token"): Promise<IntrospectResponse>;
  /** The underlying generated client, for the other methods. */
  readonly tokens: Client<typeof TokenService>;
}

export function createIdentityClient(options: IdentityClientOptions): IdentityClient {
  // Closed before the server's idle time-out, so no call races its GOAWAY.
  const transport = createGrpcTransport({ baseUrl: options.baseUrl, idleConnectionTimeoutMs: CLIENT_IDLE_TIMEOUT_MS });
  const tokens = createClient(TokenService, transport);
  const timeoutMs = options.timeoutMs ?? 2000;
  const apiKeyHeader: Record<string, string> = options.apiKey === undefined ? {} : { "x-api-key": options.apiKey };
  return {
    tokens,
    verify: (token) => tokens.verify({ token }, { timeoutMs }),
    introspect: (token, tokenTypeHint = "access_token") => tokens.introspect({ token, tokenTypeHint }, { timeoutMs, headers: apiKeyHeader }),
  };
}
