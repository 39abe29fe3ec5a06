/**
 * The request listener: security headers and CORS first, then the Connect
 * protocol paths to connect-node's adapter and everything else through the lean
 * router. Any refusal thrown on the way is answered in the envelope here.
 */
import type { Logger } from "pino";
import type { Locale } from "../src/config.js";
import { localeOf, toPublicError } from "../src/rpc/index.js";
import { sendRefusal, type Refusal } from "./http/envelope.js";
import type { Cors } from "./http/cors.js";
import { headerOf, normalizePath, type Exchange, type HttpResponse, type NodeRequest, type NodeResponse } from "./http/exchange.js";
import type { Match, Router } from "./http/router.js";
import { UNMATCHED_ROUTE, type RequestObserver } from "../src/lib/request-observer.js";
import { HttpRefusal } from "./http/reasons.js";
import { refusalOf } from "./rpc/errors.js";

export const CONNECT_PATH_PREFIX = "/identity.v1.";

export { UNMATCHED_ROUTE, type RequestObserver } from "../src/lib/request-observer.js";

export interface RequestHandlerOptions {
  router: Router;
  /** connect-node's adapter for the Connect protocol paths. */
  connect: (req: NodeRequest, res: NodeResponse) => void;
  cors: Cors;
  clientIp: (req: NodeRequest) => string;
  defaultLocale: Locale;
  log: Logger;
  /** The Connect protocol's method paths (`/identity.v1.TokenService/Verify`), their own routes. */
  connectPaths: ReadonlySet<string>;
  /** Around every request, the first outermost; none by default (nothing is paid for them). */
  observers?: readonly RequestObserver[];
}

export function createRequestHandler(options: RequestHandlerOptions): (req: NodeRequest, res: NodeResponse) => void {
  const { router, log } = options;
  const exchangeOf = (req: NodeRequest, res: NodeResponse, path: string): Exchange => ({
    req,
    res,
    path,
    method: req.method ?? "GET",
    locale: localeOf(headerOf(req.headers, "accept-language"), options.defaultLocale),
    clientIp: options.clientIp(req),
  });

  const fail = (ex: Exchange, error: unknown) => {
    // The client went away (e.g. mid-body): nobody to answer, nothing to report.
    if (clientGone(ex.req)) return;
    const fromRpc = refusalOf(error);
    const refusal = fromRpc ?? ownRefusal(error);
    // A failure inside an RPC was logged where it happened (src/rpc/observe.ts's interceptor, or
    // the upstream's log); one in the bridge itself is logged here, with its stack.
    if (fromRpc === undefined && refusal.reason === "internal_error") log.error({ err: error, method: ex.method, path: ex.path }, "request failed");
    // Per request at info: a store outage is explained once, by the line its watcher
    // writes when the store goes down (src/store/watch.ts), not once per refused call.
    else if (fromRpc?.reason === "service_unavailable") log.info({ err: errorText(error), path: ex.path }, "service unavailable");
    if (ex.res.headersSent) {
      ex.req.socket.destroy();
      return;
    }
    sendRefusal(ex, refusal);
  };

  // The RPCs log themselves (one line per call, src/rpc/observe.ts); HTTP lines are for debugging.
  const accessLog = log.isLevelEnabled("debug")
    ? (req: NodeRequest, res: NodeResponse) => {
        const started = performance.now();
        res.once("finish", () =>
          log.debug({ method: req.method, path: normalizePath(req.url), status: res.statusCode, ms: Math.round(performance.now() - started) }, "http"),
        );
      }
    : undefined;

  const respond = (req: NodeRequest, res: NodeResponse, path: string, match: Match | "connect") => {
    accessLog?.(req, res);
    res.setHeader("X-Content-Type-Options", "nosniff");
    if (options.cors(req, res)) return;
    if (match === "connect") {
      // Connect answers carry tokens and profiles like the /api ones (DESIGN.md: token
      // responses are no-store); connect-node sets no Cache-Control of its own.
      res.setHeader("Cache-Control", "no-store");
      options.connect(req, res);
      return;
    }
    const ex = exchangeOf(req, res, path);
    if (match === undefined) return sendRefusal(ex, { reason: "not_found" });
    if ("allow" in match) return sendRefusal(ex, { reason: "method_not_allowed" }, { Allow: match.allow });
    try {
      const done = match.handler(ex, match.params);
      if (done !== undefined) done.catch((error: unknown) => fail(ex, error));
    } catch (error) {
      fail(ex, error);
    }
  };

  const observers = options.observers ?? [];
  return (req, res) => {
    const path = normalizePath(req.url);
    const match = req.url?.startsWith(CONNECT_PATH_PREFIX) ? "connect" : router.find(req.method ?? "GET", path);
    if (observers.length === 0) return respond(req, res, path, match);
    const route = match === "connect" ? (options.connectPaths.has(path) ? path : UNMATCHED_ROUTE) : (match?.route ?? UNMATCHED_ROUTE);
    const answer = observers.reduceRight<() => void>((next, observe) => () => observe(route, req, res, next), () => respond(req, res, path, match));
    answer();
  };
}

/** The Connect adapter's answer for a path it does not serve. */
export function notFoundHandler(defaultLocale: Locale, clientIp: (req: NodeRequest) => string): (req: NodeRequest, res: HttpResponse) => void {
  return (req, res) =>
    sendRefusal(
      { req, res, path: normalizePath(req.url), method: req.method ?? "GET", locale: localeOf(headerOf(req.headers, "accept-language"), defaultLocale), clientIp: clientIp(req) },
      { reason: "not_found" },
    );
}

/** A refusal of the bridge itself (HttpRefusal, or an AppError such as a field's), or a bug (internal_error). */
function ownRefusal(error: unknown): Refusal {
  if (error instanceof HttpRefusal) return { reason: error.reason };
  const e = toPublicError(error);
  return { reason: e.reason, retryAfterSeconds: e.retryAfterSeconds, field: e.field };
}

/** The connection (HTTP/1.1) or the stream (HTTP/2) of the request is closed. */
function clientGone(req: NodeRequest): boolean {
  const stream = "stream" in req ? (req.stream as { destroyed: boolean } | null) : undefined;
  return (req.socket as { destroyed: boolean } | null)?.destroyed !== false || stream?.destroyed === true;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
