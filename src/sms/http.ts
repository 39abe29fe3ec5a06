/**
 * The HTTP side of the SMS gateways: one connection pool per provider (keep-alive, so
 * a sign-up does not pay a TLS handshake to the gateway), a time-out over the whole
 * exchange, and failures described without URLs' secrets.
 *
 * undici's own `request` rather than the global `fetch`: the pool is ours to size and
 * close, and Node 20's built-in fetch takes no dispatcher from this package's undici.
 */
import { Agent, request } from "undici";
import { UnavailableError } from "../core/errors.js";

export interface GatewayRequest {
  method: "GET" | "POST";
  url: URL;
  headers?: Record<string, string>;
  body?: string;
}

/** An HTTP answer, any status: what it means is the provider's to say. */
export interface GatewayAnswer {
  status: number;
  /** The body parsed as JSON; undefined when it is not JSON. */
  json: unknown;
}

export interface Gateway {
  /** Rejects with `UnavailableError("sms", ...)` when no answer came in time. */
  call(req: GatewayRequest): Promise<GatewayAnswer>;
  close(): Promise<void>;
}

export interface GatewayOptions {
  /** Names the provider in failure messages. */
  provider: string;
  timeoutMs: number;
  /** What a log line may show of a request's URL (Kavenegar's key is in the path). */
  describe?: (url: URL) => string;
}

/** Idle connections are kept this long for the next code. */
const KEEP_ALIVE_MS = 30_000;

export function createGateway(options: GatewayOptions): Gateway {
  const { provider, timeoutMs, describe = (url: URL) => url.origin + url.pathname } = options;
  const agent = new Agent({ keepAliveTimeout: KEEP_ALIVE_MS, connect: { timeout: timeoutMs } });
  return {
    async call(req) {
      // One deadline over connecting, sending and reading the whole answer.
      const signal = AbortSignal.timeout(timeoutMs);
      try {
        const answer = await request(req.url, { method: req.method, headers: req.headers, body: req.body, dispatcher: agent, signal });
        const text = await answer.body.text();
        return { status: answer.statusCode, json: parseJson(text) };
      } catch (error) {
        throw new UnavailableError("sms", `${provider} ${describeFailure(error, describe(req.url), timeoutMs)}`, { cause: error });
      }
    },
    close: () => agent.close(),
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** A log-safe account of a request that got no answer: never a body, header or secret. */
export function describeFailure(error: unknown, target: string, timeoutMs: number): string {
  if (error instanceof Error && error.name === "TimeoutError") return `${target} did not answer within ${timeoutMs} ms`;
  // undici puts the system error code (ECONNREFUSED, ...) on the error, or on its cause under fetch.
  const code = errorCode(error) ?? (error instanceof Error ? errorCode(error.cause) : undefined);
  return `${target} unreachable${code ? ` (${code})` : ""}`;
}

function errorCode(error: unknown): string | undefined {
  return typeof error === "object" && error !== null && "code" in error && typeof error.code === "string" ? error.code : undefined;
}

/** Reads `path` (e.g. `["return", "status"]`) out of a parsed JSON answer, if it is a number there. */
export function numberAt(json: unknown, ...path: string[]): number | undefined {
  let value = json;
  for (const key of path) {
    if (typeof value !== "object" || value === null || !(key in value)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return typeof value === "number" ? value : undefined;
}
