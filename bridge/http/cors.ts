/**
 * CORS for the origins in CORS_ORIGINS: exact match, scheme and port included,
 * except that ASCII case does not count (scheme and host are case-insensitive, so
 * `https://APP.example.com` is the same origin; browsers send it lower-case anyway).
 * Look-alikes (another host, port or scheme, a path, `null`) are other origins.
 * Tokens travel in the Authorization header, never in cookies, so credentials are
 * not allowed. Other origins get no CORS headers at all.
 */
import { cors as connectCors } from "@connectrpc/connect";
import { headerOf, type NodeRequest, type HttpResponse } from "./exchange.js";

const ALLOW_METHODS = [...new Set(["GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS", ...connectCors.allowedMethods])].join(", ");
const ALLOW_HEADERS = [...new Set(["Authorization", "Content-Type", "Accept-Language", "X-Api-Key", ...connectCors.allowedHeaders])].join(", ");
const EXPOSE_HEADERS = [...new Set(["X-Token-Expires-At", "X-Authenticated", "Retry-After", ...connectCors.exposedHeaders])].join(", ");

/** Adds CORS headers; answers a preflight itself and returns true when it did. */
export type Cors = (req: NodeRequest, res: HttpResponse) => boolean;

export function createCors(origins: readonly string[]): Cors {
  const allowed = new Set(origins.map(asciiLower));
  return (req, res) => {
    const origin = headerOf(req.headers, "origin");
    const preflight = req.method === "OPTIONS" && origin !== undefined && headerOf(req.headers, "access-control-request-method") !== undefined;
    if (allowed.size > 0) res.setHeader("Vary", "Origin");
    const ok = origin !== undefined && allowed.has(asciiLower(origin));
    if (ok) {
      res.setHeader("Access-Control-Allow-Origin", origin);
      if (!preflight) res.setHeader("Access-Control-Expose-Headers", EXPOSE_HEADERS);
    }
    if (!preflight) return false;
    if (ok) {
      res.setHeader("Access-Control-Allow-Methods", ALLOW_METHODS);
      res.setHeader("Access-Control-Allow-Headers", ALLOW_HEADERS);
      res.setHeader("Access-Control-Max-Age", "7200");
    }
    res.writeHead(204);
    res.end();
    return true;
  };
}

/** Only A–Z: full Unicode lower-casing would fold look-alikes (the Kelvin sign K) into ASCII. */
function asciiLower(text: string): string {
  return text.replace(/[A-Z]/g, (c) => c.toLowerCase());
}
